/**
 * A recording tap between a client and a real Flux broker: a unix socket that forwards
 * every byte both ways unchanged and notes each request's topic and nodeid and the errnum
 * the broker answered with. Clients (ours or flux-core's) reach it through `tap.uri` as
 * FLUX_URI; it proves which requests reached a real broker and what the broker said.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLAG_NORESPONSE, MessageReader, MSGTYPE_REQUEST, MSGTYPE_RESPONSE, payloadText } from '../../src/broker/codec.js';
import { socketPath } from '../../src/broker/client.js';

export interface TapRequest {
  topic: string;
  nodeid: number;
  noresponse: boolean;
  /** JSON payloads as text (NUL dropped); raw payloads as their length. */
  payload: string;
  /** The broker's errnum once answered (0 = success); undefined while unanswered. */
  errnum?: number;
}

export interface Tap {
  uri: string;
  /** Every request seen so far, in the order clients sent them. */
  requests: TapRequest[];
  /** Forget what was recorded. */
  clear(): void;
  close(): Promise<void>;
}

function describePayload(p: Uint8Array | undefined): string {
  if (!p || p.length === 0) return '';
  if (p[p.length - 1] === 0 && (p[0] === 0x7b || p[0] === 0x5b)) return payloadText(p);
  return `<${p.length} bytes>`;
}

export async function startTap(targetUri: string): Promise<Tap> {
  const target = socketPath(targetUri);
  const dir = mkdtempSync(join(tmpdir(), 'flux-tap-'));
  const path = join(dir, 'local');
  const requests: TapRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const broker = connect({ path: target });
    sockets.add(client).add(broker);
    const byTag = new Map<number, TapRequest>();
    const up = new MessageReader();
    const down = new MessageReader();
    let handshake = true;
    client.on('data', (chunk: Buffer) => {
      broker.write(chunk);
      up.push(new Uint8Array(chunk), (m) => {
        if (m.type !== MSGTYPE_REQUEST) return;
        const r: TapRequest = { topic: m.topic ?? '', nodeid: m.aux1, noresponse: (m.flags & FLAG_NORESPONSE) !== 0, payload: describePayload(m.payload) };
        requests.push(r);
        if (!r.noresponse) byTag.set(m.matchtag, r);
      });
    });
    broker.on('data', (chunk: Buffer) => {
      client.write(chunk);
      let bytes = new Uint8Array(chunk);
      if (handshake) {
        // the connector's one status byte comes before any message
        handshake = false;
        bytes = bytes.subarray(1);
      }
      down.push(bytes, (m) => {
        if (m.type !== MSGTYPE_RESPONSE) return;
        const r = byTag.get(m.matchtag);
        if (r) {
          r.errnum = m.aux1;
          byTag.delete(m.matchtag);
        }
      });
    });
    const end = () => {
      client.destroy();
      broker.destroy();
      sockets.delete(client);
      sockets.delete(broker);
    };
    client.on('close', end).on('error', end);
    broker.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
  return {
    uri: `local://${path}`,
    requests,
    clear: () => void requests.splice(0),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `topic@nodeid` (nodeid `any` or a rank) of each request, as a set. */
export function topicsSeen(requests: readonly TapRequest[]): Set<string> {
  return new Set(requests.map((r) => `${r.topic}@${r.nodeid === 0xffffffff ? 'any' : r.nodeid}`));
}
