// Builds dist/: ESM (.js) + CJS (.cjs) per entry with socket.io-client
// external, .d.ts through tsc, a self-contained browser bundle (IIFE, global
// `Courier`) and a self-contained mini-program bundle (CJS, package.json
// "miniprogram" field).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const require = createRequire(import.meta.url);
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const entries = ['index', 'core', 'adapters/browser', 'adapters/wechat', 'adapters/qq', 'adapters/node'];
const common = {
  absWorkingDir: root,
  bundle: true,
  target: 'es2019',
  logLevel: 'warning',
  external: ['socket.io-client', 'node:*'],
  platform: 'neutral',
  mainFields: ['module', 'main'],
};

for (const format of ['esm', 'cjs']) {
  await build({
    ...common,
    entryPoints: Object.fromEntries(entries.map((e) => [e, `src/${e}.ts`])),
    outdir: dist,
    format,
    outExtension: { '.js': format === 'esm' ? '.js' : '.cjs' },
    // separate bundles per entry: no shared chunk names to break CJS
    splitting: false,
  });
}

// Mini-programs forbid eval/Function and may lack globalThis and self:
// engine.io-client reads the global object through `self`, so give it one.
const miniBanner = `var self = typeof globalThis !== 'undefined' ? globalThis : { setTimeout: setTimeout, clearTimeout: clearTimeout, setInterval: setInterval, clearInterval: clearInterval };`;

await build({
  ...common,
  external: [],
  platform: 'browser',
  mainFields: ['browser', 'module', 'main'],
  entryPoints: ['src/miniprogram.ts'],
  outfile: path.join(dist, 'miniprogram/index.js'),
  format: 'cjs',
  banner: { js: miniBanner },
});

await build({
  ...common,
  external: [],
  platform: 'browser',
  mainFields: ['browser', 'module', 'main'],
  entryPoints: ['src/index.ts'],
  outfile: path.join(dist, 'courier.browser.js'),
  format: 'iife',
  globalName: 'Courier',
  minify: true,
  sourcemap: true,
});

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
// the mini-program bundle's types are those of the package
writeFileSync(path.join(dist, 'miniprogram/index.d.ts'), "export * from '../miniprogram.js';\n");
console.log('built dist/');
