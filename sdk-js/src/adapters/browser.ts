import { type Adapter, type KVStorage, memoryStorage } from '../adapter.js';

function localStorageOr(fallback: () => KVStorage): KVStorage {
  try {
    const ls = (globalThis as { localStorage?: Storage }).localStorage;
    if (ls) {
      const probe = '__courier_probe__';
      ls.setItem(probe, '1');
      ls.removeItem(probe);
      return ls;
    }
  } catch {
    // private mode or storage disabled
  }
  return fallback();
}

/**
 * Browsers (H5): localStorage, and socket.io-client's own transports (the
 * browser's WebSocket, or long-polling when asked for). Outside a browser it
 * keeps state in memory.
 */
export function browserAdapter(): Adapter {
  const w = globalThis as { addEventListener?: (type: string, fn: () => void) => void; document?: { visibilityState?: string } };
  return {
    name: 'browser',
    storage: localStorageOr(memoryStorage),
    watchNetwork: w.addEventListener
      ? (cb) => {
          w.addEventListener!('online', () => cb(true));
          w.addEventListener!('offline', () => cb(false));
        }
      : undefined,
    watchForeground: w.addEventListener && w.document
      ? (cb) => w.addEventListener!('visibilitychange', () => w.document?.visibilityState === 'visible' && cb())
      : undefined,
  };
}
