/**
 * Archive bytes into a sink, with the error that matters reported. pipeTo() would do the
 * copying, but when the sink fails (ENOSPC, EPIPE) it cancels the source, and a
 * compression stage torn down mid-chunk can reject that with an error of its own
 * ("Invalid state: Unable to enqueue"), which pipeTo then reports instead of the sink's.
 * Here the first failure wins: the sink's, or the source's.
 */
export async function pipeOut(bytes: ReadableStream<Uint8Array>, sink: WritableStream<Uint8Array>): Promise<void> {
  const reader = bytes.getReader();
  const writer = sink.getWriter();
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch (err) {
      await writer.abort(err).catch(() => undefined);
      throw err;
    }
    if (next.done) break;
    try {
      await writer.write(next.value);
    } catch (err) {
      // stop the producers; how they wind down is not the user's concern
      await reader.cancel(err).catch(() => undefined);
      throw err;
    }
  }
  await writer.close();
}
