/** Output to standard output; each write resolves once flushed, which is the backpressure. */
import { FluxError } from '../errors.js';
import { releaseChunk } from '../util/chunk-recycler.js';
import { loopTurner } from '../util/turn.js';

/**
 * The reader of stdout went away (EPIPE: `flux-dump - | head -c 1000`). Not a failure
 * worth a message: the CLI exits quietly with 128+SIGPIPE, as a C program would.
 */
export class StdoutClosedError extends FluxError {
  constructor() {
    super('stdout: the reader closed the pipe', 'EPIPE');
    this.name = 'StdoutClosedError';
  }
}

function outputError(err: NodeJS.ErrnoException): FluxError {
  if (err.code === 'EPIPE') return new StdoutClosedError();
  return new FluxError(`stdout: ${err.message}`, err.code ?? 'EIO');
}

export function stdoutSink(out: NodeJS.WritableStream = process.stdout): WritableStream<Uint8Array> {
  let failure: FluxError | undefined;
  // Stays attached: an unhandled 'error' event on stdout would crash the process.
  out.on('error', (err: NodeJS.ErrnoException) => {
    failure ??= outputError(err);
  });
  // Writes to a file or device complete synchronously, callbacks on the next tick.
  const turn = loopTurner();
  return new WritableStream<Uint8Array>({
    write(chunk) {
      if (failure) throw failure;
      return new Promise<void>((resolve, reject) => {
        out.write(chunk, (err) => {
          if (err) failure ??= outputError(err as NodeJS.ErrnoException);
          if (failure) return reject(failure);
          releaseChunk(chunk); // written: the packer may refill it
          resolve(turn());
        });
      });
    },
  });
}
