/**
 * Load the WASM core once and switch the hot paths over to it: LZ4 block codec
 * (content.sqlite), ustar header packing (tar writer). Hashing loads inside
 * createBlobVerifier / initWasm. The TS implementations stay as oracle and fallback.
 */
import { headerPacking } from '../pack/tar/writer.js';
import { initWasm } from '../verify/digest.js';
import { installWasmLz4 } from './lz4.js';
import { initWasmUstar, wasmHeaderPacker } from './ustar.js';

let ready: Promise<void> | undefined;

export function initCore(): Promise<void> {
  ready ??= (async () => {
    await Promise.all([initWasm(), installWasmLz4(), initWasmUstar()]);
    headerPacking.packer = wasmHeaderPacker;
  })();
  return ready;
}
