#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`tscaffe: ${err && err.message ? err.message : String(err)}\n`);
    if (process.env.TSCAFFE_DEBUG) console.error(err);
    process.exitCode = 1;
  },
);
