/**
 * `--sd-notify` for offline runs: send `STATUS=...` to $NOTIFY_SOCKET the way
 * systemd-notify does. Node and Deno cannot send AF_UNIX datagrams themselves, so we run
 * `systemd-notify --status=...` (what the man page's unit files rely on anyway), at most
 * a few times a second and always for the final count, without waiting for it.
 * (Live dumps use the broker's state-machine.sd-notify RPC instead.)
 */
import { spawn } from 'node:child_process';
import type { Env } from './settings.js';

export interface SdNotifier {
  status(text: string, final?: boolean): void;
  /** Wait for notifications still in flight. */
  flush(): Promise<void>;
}

const MIN_INTERVAL_MS = 250;

/** `env`: what systemd-notify runs with (the run's settings.notifyEnv); undefined: no socket, no notifier. */
export function makeSdNotifier(warn: (msg: string) => void, env: Env | undefined): SdNotifier | undefined {
  if (!env?.NOTIFY_SOCKET) return undefined;
  let last = 0;
  let warned = false;
  const inflight = new Set<Promise<void>>();
  const send = (text: string) => {
    const p = new Promise<void>((resolve) => {
      const child = spawn('systemd-notify', [`--status=${text}`], { stdio: 'ignore', env: { ...env } });
      child.on('error', (err: NodeJS.ErrnoException) => {
        if (!warned) warn(`--sd-notify: cannot run systemd-notify: ${err.code === 'ENOENT' ? 'not found' : err.message}`);
        warned = true;
        resolve();
      });
      child.on('exit', () => resolve());
    });
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  };
  return {
    status(text, final = false) {
      const now = Date.now();
      if (!final && now - last < MIN_INTERVAL_MS) return;
      last = now;
      send(text);
    },
    async flush() {
      await Promise.all([...inflight]);
    },
  };
}
