#!/usr/bin/env node
// Run flux-dump or flux-restore (dist/cli) under the project's own Deno, the `deno` npm
// devDependency (its binary comes from the registry with `npm ci`; nothing is downloaded
// at run time):
//   npm run -s deno:dump -- --store DIR --checkpoint out.tar.gz
//   npm run -s deno:restore -- --checkpoint --store DIR out.tar.gz
// Relative paths are taken from the directory npm was started in (INIT_CWD), as if the
// CLI were run there. Tests and benchmarks import denoCommand() so that they run Deno
// with exactly the permissions users get.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLIS = { 'flux-dump': 'dist/cli/flux-dump.js', 'flux-restore': 'dist/cli/flux-restore.js' };

const LOCAL_SCHEME = 'local://';

/** The broker socket a run may connect to: --store local://PATH, else FLUX_URI. */
export function brokerSocket(args, env = process.env) {
  let store;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') break;
    if (args[i] === '--store') store = args[i + 1];
    else if (args[i].startsWith('--store=')) store = args[i].slice('--store='.length);
  }
  const uri = store ?? env.FLUX_URI;
  return uri?.startsWith(LOCAL_SCHEME) ? uri.slice(LOCAL_SCHEME.length) : undefined;
}

/**
 * Deno permissions for one CLI run, each as narrow as the CLI allows:
 * - read/write: unscoped, since the store, archive and target are wherever the user says;
 * - env: unscoped, since besides FLUX_URI, FLUX_KVS_NAMESPACE and NOTIFY_SOCKET, the
 *   dependencies read variables of their own (NAPI_RS_*, PISCINA_*) and Deno's
 *   child_process reads the whole environment when --sd-notify runs systemd-notify: a
 *   list would break on a dependency update, and env is read-only input;
 * - sys: flux-dump only, uid and gid (archive entries carry the user's ids);
 * - ffi: flux-dump only, the @napi-rs/lzma addon (the native .tar.xz encoder), nothing
 *   else; without it flux-dump uses the same encoder compiled to WebAssembly;
 * - run: systemd-notify only (--sd-notify);
 * - net: no network at all; only the broker's unix socket, when the run targets one.
 */
export function denoPermissions(cli, args = [], env = process.env, root = ROOT) {
  const flags = ['--allow-read', '--allow-write', '--allow-env'];
  if (cli === 'flux-dump') flags.push('--allow-sys=uid,gid', `--allow-ffi=${join(root, 'node_modules/@napi-rs')}`);
  flags.push('--allow-run=systemd-notify');
  const socket = brokerSocket(args, env);
  if (socket) flags.push(`--allow-net=unix:${socket}`);
  return flags;
}

/** The Deno binary installed by npm (node_modules/.bin/deno), else `deno` on PATH. */
export function denoBinary(root = ROOT) {
  const local = join(root, 'node_modules/.bin/deno');
  return existsSync(local) ? local : 'deno';
}

/**
 * `deno run` flags besides permissions: --no-prompt (a missing permission is an error, not
 * a question on the terminal), --cached-only and --node-modules-dir=manual (only the
 * packages npm installed, never a download).
 */
export const RUN_FLAGS = ['--no-prompt', '--cached-only', '--node-modules-dir=manual'];

/** argv for running `cli` (flux-dump or flux-restore) with `args` under Deno. */
export function denoCommand(cli, args, env = process.env, root = ROOT) {
  if (!(cli in CLIS)) throw new Error(`unknown CLI ${cli} (use ${Object.keys(CLIS).join(' or ')})`);
  return [denoBinary(root), 'run', ...RUN_FLAGS, ...denoPermissions(cli, args, env, root), join(root, CLIS[cli]), ...args];
}

/** Environment for Deno: no update check (it would reach the network). */
export function denoEnv(env = process.env) {
  return { ...env, DENO_NO_UPDATE_CHECK: '1' };
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

function main(argv) {
  const [cli, ...args] = argv;
  if (!(cli in CLIS)) {
    process.stderr.write(`usage: deno-run.mjs ${Object.keys(CLIS).join('|')} [ARGS...]\n`);
    return process.exit(2);
  }
  const [bin, ...rest] = denoCommand(cli, args);
  const child = spawn(bin, rest, { stdio: 'inherit', cwd: process.env.INIT_CWD || process.cwd(), env: denoEnv() });
  // The terminal signals the whole process group; a signal sent to this process alone is
  // passed on. Either way Deno's CLI cleans up and exits, and so do we, after it.
  for (const sig of Object.keys(SIGNALS)) process.on(sig, () => child.kill(sig));
  child.on('error', (err) => {
    process.stderr.write(`deno-run: cannot run ${bin}: ${err.message} (run \`npm ci\` to install the deno devDependency)\n`);
    process.exit(127);
  });
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (SIGNALS[signal] ?? 0)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
