import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Adapter, type KVStorage, memoryStorage } from '../adapter.js';

/** A JSON file as storage (written whole, through a rename). */
export function fileStorage(file: string): KVStorage {
  let data: Record<string, string> = {};
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    data = {};
  }
  return {
    getItem: (k) => (Object.prototype.hasOwnProperty.call(data, k) ? data[k] : null),
    setItem(k, v) {
      data[k] = v;
      mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(data));
      renameSync(tmp, file);
    },
  };
}

/**
 * Node (servers, bots, tests): socket.io-client's Node transport (the `ws`
 * package), state in memory, or in a JSON file when `storageFile` is given.
 */
export function nodeAdapter(opts: { storageFile?: string; storage?: KVStorage } = {}): Adapter {
  return {
    name: 'node',
    storage: opts.storage ?? (opts.storageFile ? fileStorage(opts.storageFile) : memoryStorage()),
  };
}
