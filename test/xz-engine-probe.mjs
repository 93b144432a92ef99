// Prints the xz engine `auto` picks in the runtime that runs this file (test/xz-engines.test.ts
// runs it under Deno with and without --allow-ffi).
import { autoXzEngine } from '../dist/compress/codecs.js';

console.log(await autoXzEngine());
