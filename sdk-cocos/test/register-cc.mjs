// node --import ./test/register-cc.mjs: `import ... from 'cc'` loads the
// simulated Cocos runtime (test/cc-sim.mjs) and 'courier-sdk-cocos' this
// package's dist (as in a project that installed it).
import { register } from 'node:module';

register('data:text/javascript,' + encodeURIComponent(`
  const sim = ${JSON.stringify(new URL('./cc-sim.mjs', import.meta.url).href)};
  const pkg = ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
  export async function resolve(specifier, context, next) {
    if (specifier === 'cc') return { url: sim, shortCircuit: true };
    if (specifier === 'courier-sdk-cocos') return { url: pkg, shortCircuit: true };
    return next(specifier, context);
  }
`));
