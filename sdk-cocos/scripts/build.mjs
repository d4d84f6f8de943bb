// Builds dist/ from src/ and the courier-sdk core of ../sdk-js (built first,
// then bundled in: one source of truth, nothing copied by hand):
//   dist/index.js     ESM for Cocos Creator, `cc` external, socket.io-client inside
//   dist/*.d.ts       types; the core's declarations go to dist/core/
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sdkJs = path.resolve(root, '../sdk-js');
const dist = path.join(root, 'dist');
const require = createRequire(import.meta.url);

execFileSync('npm', ['run', 'build', '--silent'], { cwd: sdkJs, stdio: 'inherit' });
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

await build({
  absWorkingDir: root,
  entryPoints: ['src/index.ts'],
  outfile: path.join(dist, 'index.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2019',
  mainFields: ['browser', 'module', 'main'],
  external: ['cc'],
  alias: { 'courier-sdk/core': path.join(sdkJs, 'src/core.ts') },
  tsconfig: path.join(root, 'tsconfig.json'),
  logLevel: 'warning',
});

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
// the core's declarations, and imports of it pointed there
cpSync(path.join(sdkJs, 'dist'), path.join(dist, 'core'), {
  recursive: true,
  filter: (src) => !/\.(js|cjs|map)$/.test(src) || !src.includes('.'),
});
for (const f of readdirSync(dist)) {
  if (!f.endsWith('.d.ts')) continue;
  const file = path.join(dist, f);
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll("'courier-sdk/core'", "'./core/core.js'"));
}
console.log('built dist/');
