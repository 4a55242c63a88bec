#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { runCli } from './index.js';

// PGlite is a large WebAssembly module. A command runs for seconds, too short for the optimizing tier
// to pay off: its background compilation competes with the command for the CPU and holds the process
// for about two seconds after the output is written. The baseline compiler alone ends most commands
// sooner and with about half the memory. Set before PGlite compiles anything.
setFlagsFromString('--no-wasm-tier-up');
setFlagsFromString('--no-wasm-dynamic-tiering');

// A reader that stops early (`tenantkit audit --json | head -c 100`) closes the pipe: that is not a failure of the command.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

const result = await runCli(process.argv.slice(2));
process.stdout.write(result.stdout);
process.stderr.write(result.stderr);
process.exitCode = result.code;
