#!/usr/bin/env node
// The package's bin: runs the TypeScript CLI through tsx, so `npx nightshift` works in a clone.
require('tsx/cjs/api').register();
require('./cli.ts').main();
