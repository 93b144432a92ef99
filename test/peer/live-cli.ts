/** Running the real CLIs against a broker peer that lives in the test's own process. */
import { spawn } from 'node:child_process';
import { BrokerPeer, type PeerOptions } from './broker-peer.js';

export interface Run {
  status: number | null;
  stderr: string;
}

/** The CLI as a child process (async: the peer lives in this process's event loop). */
export function runLive(cli: string, uri: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, FLUX_URI: uri, NOTIFY_SOCKET: '', FLUX_KVS_NAMESPACE: '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/** Peers started by a test file; `stopAll` goes in its afterEach. */
export function peerPool(): { start: (opts: PeerOptions) => Promise<BrokerPeer>; stopAll: () => Promise<void> } {
  const peers: BrokerPeer[] = [];
  return {
    async start(opts) {
      const p = await BrokerPeer.start(opts);
      peers.push(p);
      return p;
    },
    async stopAll() {
      for (const p of peers.splice(0)) await p.stop();
    },
  };
}
