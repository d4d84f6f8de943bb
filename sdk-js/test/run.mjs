// npm test: builds the courier binary once, then runs every test file.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { courierBinary } from './helpers/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = courierBinary();
const only = process.argv.slice(2);
const files = (only.length ? only : readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => path.join(here, f)));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, COURIER_BIN: bin },
});
process.exitCode = r.status ?? 1;
