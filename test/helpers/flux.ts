/**
 * Real flux-core instances for the tests: `flux start` over a statedir, kept running in
 * the background so that several tests share one broker, and driven through FLUX_URI.
 *
 * flux-core is a test dependency only (scripts/test-setup.sh installs it). When it is
 * missing, requireFlux() throws: a suite that cannot run here fails, it does not pass.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DUMP_CLI, RESTORE_CLI } from './paths.js';

export const FLUX_PREFIX = process.env.FLUX_CORE_PREFIX || '/opt/flux-core';
export const FLUX = join(FLUX_PREFIX, 'bin/flux');

/** Throws a loud, actionable error when flux-core is not installed. */
export function requireFlux(): string {
  if (!existsSync(FLUX)) {
    throw new Error(`flux-core not found at ${FLUX}: run scripts/test-setup.sh (or set FLUX_CORE_PREFIX)`);
  }
  return FLUX;
}

export interface FluxResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Environment for a flux command: our temporaries, no inherited instance. */
function fluxEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (!('FLUX_URI' in extra)) delete env.FLUX_URI;
  return env;
}

/** Run `flux ARGS` (e.g. a whole `flux start ... bash -c SCRIPT`) to completion. */
export function flux(args: string[], opts: SpawnSyncOptions & { env?: NodeJS.ProcessEnv } = {}): FluxResult {
  requireFlux();
  const r = spawnSync(FLUX, args, { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 300_000, ...opts, env: fluxEnv(opts.env) });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Like flux(), but throws with the command's stderr when it fails. */
export function fluxOk(args: string[], opts: SpawnSyncOptions & { env?: NodeJS.ProcessEnv } = {}): string {
  const r = flux(args, opts);
  if (r.status !== 0) throw new Error(`flux ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/**
 * A directory holding a `flux` wrapper that sends `flux dump`/`flux restore` to our
 * commands and everything else to the real flux. Put first on PATH, it stands in for
 * flux-core's builtins inside the instance's own rc scripts too (`exec -a flux` keeps
 * PATH as it is: flux-core prepends its own bin directory only when invoked by path).
 * With `log`, each redirected command line is appended to that file.
 */
export function wrapperDir(dir: string, opts: { log?: string } = {}): string {
  mkdirSync(dir, { recursive: true });
  const node = process.execPath;
  // optional: a line per dump/restore it redirects, proving which command ran
  const note = opts.log ? `echo "$*" >> '${opts.log}'; ` : '';
  const body = `#!/bin/bash
case "$1" in
  dump) ${note}shift; exec "${node}" "${DUMP_CLI}" "$@";;
  restore) ${note}shift; exec "${node}" "${RESTORE_CLI}" "$@";;
  *) exec -a flux "${FLUX}" "$@";;
esac
`;
  const path = join(dir, 'flux');
  writeFileSync(path, body);
  chmodSync(path, 0o755);
  return dir;
}

export interface Instance {
  /** FLUX_URI of rank 0. */
  uri: string;
  statedir: string;
  /** Run `flux ARGS` against this instance; throws on failure unless `allowFail`. */
  run(args: string[], opts?: { allowFail?: boolean; env?: NodeJS.ProcessEnv; input?: string }): FluxResult;
  /** Environment that points a child (our CLIs) at this instance. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Ask the instance to exit and wait for it (the statedir is then closed and flushed). */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  statedir: string;
  /** --test-size=N brokers on this machine. */
  size?: number;
  /** Extra `-Sattr=value` and other flux start arguments. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Seconds to wait for the instance to come up. */
  timeout?: number;
}

/**
 * Starts an instance that stays up until stop(): its initial program writes FLUX_URI to a
 * file, then waits for a stop file. Tests talk to it through FLUX_URI.
 */
export async function startInstance(o: StartOptions): Promise<Instance> {
  requireFlux();
  mkdirSync(o.statedir, { recursive: true });
  const ctl = `${o.statedir}.ctl`;
  mkdirSync(ctl, { recursive: true });
  const uriFile = join(ctl, 'uri');
  const stopFile = join(ctl, 'stop');
  for (const f of [uriFile, stopFile]) if (existsSync(f)) writeFileSync(f, '');
  const script = `printenv FLUX_URI > ${uriFile}.new && mv ${uriFile}.new ${uriFile}; while [ ! -s ${stopFile} ]; do sleep 0.05; done`;
  const args = ['start', `-Sstatedir=${o.statedir}`, ...(o.size ? [`--test-size=${o.size}`] : []), ...(o.args ?? []), 'bash', '-c', script];
  const child: ChildProcess = spawn(FLUX, args, { env: fluxEnv(o.env), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const deadline = Date.now() + (o.timeout ?? 60) * 1000;
  while (!existsSync(uriFile) || readFileSync(uriFile, 'utf8').trim() === '') {
    if (done) throw new Error(`flux start exited before it was up: ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`flux start did not come up: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const uri = readFileSync(uriFile, 'utf8').trim();
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...fluxEnv(o.env), FLUX_URI: uri, ...extra });
  return {
    uri,
    statedir: o.statedir,
    env,
    run(a, ro = {}) {
      const r = spawnSync(FLUX, a, { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 300_000, env: env(ro.env), input: ro.input });
      const res = { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
      if (!ro.allowFail && res.status !== 0) throw new Error(`flux ${a.join(' ')} exited ${res.status}: ${res.stderr}`);
      return res;
    },
    async stop() {
      if (!done) writeFileSync(stopFile, 'stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      const code = await exited;
      clearTimeout(timer);
      if (code !== 0) throw new Error(`flux instance exited ${code}: ${stderr}`);
      return code;
    },
  };
}
