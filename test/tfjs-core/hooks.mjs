// Node module hooks that load tfjs-core's own jasmine suites from its npm package: the suites
// ship as ES modules (dist/**/*_test.js) with extension-less relative imports, in a package
// without "type": "module". Bare '@tensorflow/tfjs-core' resolves to that same ESM tree (one
// tfjs-core instance for the suites, the cpu backend and the selfsup backend), the cpu backend
// to its ESM bundle, and seedrandom (CommonJS, read as a namespace by tfjs) to a small shim.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const coreDist = join(dirname(require.resolve('@tensorflow/tfjs-core/package.json')), 'dist');
const cpuBundle = join(dirname(require.resolve('@tensorflow/tfjs-backend-cpu/package.json')), 'dist', 'tf-backend-cpu.fesm.js');
const shim = join(dirname(fileURLToPath(import.meta.url)), 'seedrandom-shim.mjs');

const isEsmFile = (path) => path === cpuBundle || (path.startsWith(coreDist) && path.endsWith('.js') && !/[/\\]tf-core\.[^/\\]*js$/.test(path));

export async function resolve(specifier, context, next) {
  if (specifier === '@tensorflow/tfjs-core') return { url: pathToFileURL(join(coreDist, 'index.js')).href, shortCircuit: true };
  if (specifier === '@tensorflow/tfjs-backend-cpu') return { url: pathToFileURL(cpuBundle).href, shortCircuit: true };
  if (specifier === 'seedrandom') return { url: pathToFileURL(shim).href, shortCircuit: true };
  const sub = /^@tensorflow\/tfjs-core\/dist\/(.*)$/.exec(specifier);
  if (sub) return { url: pathToFileURL(join(coreDist, sub[1].endsWith('.js') ? sub[1] : `${sub[1]}.js`)).href, shortCircuit: true };
  const parent = context.parentURL && context.parentURL.startsWith('file:') ? fileURLToPath(context.parentURL) : '';
  if (specifier.startsWith('.') && isEsmFile(parent) && !specifier.endsWith('.js')) {
    const base = join(dirname(parent), specifier);
    const path = existsSync(`${base}.js`) ? `${base}.js` : join(base, 'index.js');
    return { url: pathToFileURL(path).href, shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (url.startsWith('file:') && isEsmFile(fileURLToPath(url))) {
    let source = await readFile(fileURLToPath(url), 'utf8');
    // platform_node.js calls require('util') at load: give the module a require of its own.
    if (/\brequire\(/.test(source)) source = `import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);\n${source}`;
    return { format: 'module', source, shortCircuit: true };
  }
  return next(url, context);
}
