/** Types for the untyped codec packages, as far as we use them. */

declare module 'bzip2-wasm' {
  /** Emscripten-built bzip2 1.0.8; see codecs.ts for why we use only its module. */
  export default class BZip2 {
    init(): Promise<void>;
    compress(input: Uint8Array, blockSize?: number, outputCap?: number): Uint8Array;
    decompress(input: Uint8Array, outputCap: number): Uint8Array;
  }
}
