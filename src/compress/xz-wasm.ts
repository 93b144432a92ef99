/**
 * The xz encoder compiled to WebAssembly: the same Rust code (@napi-rs/lzma 1.5.3, built
 * for wasm32-wasip1-threads by its authors) as the native addon, so both write the same
 * bytes for the same input. It is the fallback where the native addon does not load: a
 * platform npm installed no binding for (Node 20, whose version the bindings' engines
 * range excludes), or Deno without --allow-ffi.
 *
 * Why vendored (vendor/lzma-wasm32-wasi/, see its README): the registry package declares
 * `cpu: ["wasm32"]`, so npm never installs it as a dependency, and its own loaders need
 * node:wasi (absent in Deno) and spawn a worker thread per async task. The addon exports
 * Node-API functions; emnapi provides that API in JavaScript and @tybys/wasm-util a WASI
 * in JavaScript, which works the same in Node and Deno. Only the synchronous
 * `xz.compressSync` is used, so no thread is ever spawned (asyncWorkPoolSize 0): each
 * compressing pool worker holds one instance, exactly one core, as with the native addon.
 */
import { readFile } from 'node:fs/promises';
import { instantiateNapiModuleSync } from '@emnapi/core';
import { getDefaultContext } from '@emnapi/runtime';
import { WASI } from '@tybys/wasm-util';

/** Where the build ships the module: dist/compress/ (or src/compress/) -> vendor/. */
export const XZ_WASM_URL = new URL('../../vendor/lzma-wasm32-wasi/lzma.wasm32-wasi.wasm', import.meta.url);

/**
 * WebAssembly pages (64 KiB) the module's imported memory must start with: the minimum it
 * declares. It grows from there (one preset-6 encoder takes ~90 MiB) up to the maximum it
 * declares, 4 GiB. The memory is shared because the module was built with threads.
 */
const INITIAL_PAGES = 978;
const MAXIMUM_PAGES = 65536;

/** The part of the addon's exports we use. */
export interface XzWasmBinding {
  xz: { compressSync(input: Uint8Array): Uint8Array };
}

/** The wasm32-wasi addon, instantiated in this thread. */
export async function loadXzWasm(): Promise<XzWasmBinding> {
  const bytes = await readFile(XZ_WASM_URL);
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
  const context = getDefaultContext();
  // emnapi otherwise destroys the context on 'beforeExit', which a CLI that still has
  // work queued after an idle turn of the event loop would notice as a dead binding.
  context.suppressDestroy();
  const { napiModule } = instantiateNapiModuleSync(await WebAssembly.compile(bytes), {
    context,
    asyncWorkPoolSize: 0,
    // @tybys/wasm-util's WASI is what @napi-rs/wasm-runtime hands emnapi too. Its start()
    // is typed wider than emnapi's interface; the addon is a reactor, so only
    // initialize() runs.
    wasi: new WASI({ version: 'preview1' }) as unknown as NonNullable<Parameters<typeof instantiateNapiModuleSync>[1]['wasi']>,
    overwriteImports(imports) {
      // napi-rs builds import everything from `env`, the memory included.
      imports.env = { ...imports.env, ...imports.napi, ...imports.emnapi, memory };
      return imports;
    },
    beforeInit({ instance }) {
      // napi-rs registers each exported class and function through one of these.
      for (const name of Object.keys(instance.exports)) {
        if (name.startsWith('__napi_register__')) (instance.exports[name] as () => void)();
      }
    },
  });
  const binding = napiModule.exports as Partial<XzWasmBinding>;
  if (typeof binding.xz?.compressSync !== 'function') throw new Error(`xz: ${XZ_WASM_URL.pathname} has no xz.compressSync`);
  return binding as XzWasmBinding;
}
