/** Output to standard output; each write resolves once flushed, which is the backpressure. */
import { FluxError } from '../errors.js';

export function stdoutSink(out: NodeJS.WritableStream = process.stdout): WritableStream<Uint8Array> {
  let failure: FluxError | undefined;
  const onError = (err: NodeJS.ErrnoException) => {
    failure ??= new FluxError(`stdout: ${err.message}`, err.code ?? 'EIO');
  };
  out.on('error', onError);
  return new WritableStream<Uint8Array>({
    write(chunk) {
      if (failure) throw failure;
      return new Promise<void>((resolve, reject) => {
        out.write(chunk, (err) => {
          if (err) onError(err as NodeJS.ErrnoException);
          if (failure) reject(failure);
          else resolve();
        });
      });
    },
  });
}
