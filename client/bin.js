#!/usr/bin/env node
// The package's bin: runs the CLI compiled into dist/ by `npm run build` (which `npm install`
// runs in a clone, as the `prepare` script), so no TypeScript is compiled at run time.
const path = require('node:path');

const cli = path.join(__dirname, '..', 'dist', 'client', 'cli.js');
let main;
try {
  ({ main } = require(cli));
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes(cli)) throw err;
  process.stderr.write(
    `nightshift: not built (no dist/client/cli.js); run npm install or npm run build in ${path.join(__dirname, '..')}\n`,
  );
  process.exit(1);
}
main();
