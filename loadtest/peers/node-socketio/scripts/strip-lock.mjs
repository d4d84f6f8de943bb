// Removes every "resolved" URL from package-lock.json so that the lockfile
// names no registry host; npm ci then resolves through the configured
// registry and still verifies each package against its "integrity" hash.
// Run after `npm install`: node scripts/strip-lock.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const file = fileURLToPath(new URL('../package-lock.json', import.meta.url));
const lock = JSON.parse(readFileSync(file, 'utf8'));
let removed = 0;
for (const entry of Object.values(lock.packages ?? {})) {
  if ('resolved' in entry) {
    delete entry.resolved;
    removed++;
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: removed ${removed} "resolved" field(s)`);
