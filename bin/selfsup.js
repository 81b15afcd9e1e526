#!/usr/bin/env node
'use strict';
// The `selfsup` command (selfsup info | bench | train). The CLI is compiled TypeScript in dist/.
const path = require('path');
const fs = require('fs');
const main = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  console.error('selfsup: dist/ is missing. Run `npm run build` in ' + path.resolve(__dirname, '..') + ' first.');
  process.exit(1);
}
// `selfsup bench --list | head`: a reader that stops early is not an error (exit quietly, like coreutils).
process.stdout.on('error', (err) => {
  if (err && err.code === 'EPIPE') process.exit(0);
  throw err;
});
require(main)
  .main(process.argv.slice(2))
  .then((code) => { process.exitCode = code; })
  .catch((err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exitCode = 1;
  });
