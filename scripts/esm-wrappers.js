#!/usr/bin/env node
// Writes the ESM entry points (dist/esm/*.mjs). The package is compiled once, to CommonJS; each
// .mjs re-exports a CJS entry, whose named exports Node detects statically (cjs-module-lexer), so
// `import { tensor } from 'selfsup'` and `require('selfsup')` share one module instance.
'use strict';
const fs = require('fs');
const path = require('path');
const dist = path.resolve(__dirname, '..', 'dist');
const entries = { 'index.mjs': '../lib/index.js', 'kernels.mjs': '../lib/kernels/index.js', 'tfjs.mjs': '../lib/tfjs/index.js', 'distributed.mjs': '../lib/distributed/index.js' };
fs.mkdirSync(path.join(dist, 'esm'), { recursive: true });
for (const [file, target] of Object.entries(entries)) {
  if (!fs.existsSync(path.join(dist, 'esm', target))) continue;
  const src = `import cjs from '${target}';\nexport * from '${target}';\nexport default cjs;\n`;
  fs.writeFileSync(path.join(dist, 'esm', file), src);
}
