/**
 * The flux-restore command: options exactly as flux-core's plus --store/--hash, one-line
 * errors with exit 1, stdin through the compiled CLI, --sd-notify to a real
 * NOTIFY_SOCKET (a unix datagram socket bound by python3).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/flux-restore.js';
import { parseSize } from '../src/cli/restore-args.js';
import { cleanupTempDirs, readSqliteStore, SMALL, SMALL_ROOT, tempDir } from './restore-helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/flux-restore.js');
const SMALL_TAR = join(SMALL, 'small.tar');

afterEach(cleanupTempDirs);

async function cli(argv: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env });
  return { code, stdout, stderr };
}

describe('options', () => {
  it('no target: flux-core\'s message, exit 1', async () => {
    const r = await cli(['--store', tempDir(), SMALL_TAR]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'flux-restore: Please specify a restore target with --checkpoint or --key\n' });
  });

  it('--key offline says it needs a running instance', async () => {
    const r = await cli(['--key=restored', '--store', tempDir(), SMALL_TAR]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^flux-restore: --key needs a running Flux instance \(FLUX_URI\).*\n$/);
  });

  for (const bad of ['0', '-3', 'abc', '1.5']) {
    it(`--maxreqs=${bad} is refused`, async () => {
      const r = await cli([`--maxreqs=${bad}`, '--checkpoint', '--store', tempDir(), SMALL_TAR]);
      expect(r).toEqual({ code: 1, stdout: '', stderr: `flux-restore: invalid value for maxreqs: ${bad}\n` });
    });
  }

  it('--size-limit takes k/K/M/G suffixes and floats', () => {
    expect([parseSize('100'), parseSize('1k'), parseSize('2K'), parseSize('1.5M'), parseSize('1G'), parseSize('0.5k')]).toEqual([100, 1024, 2048, 1572864, 1073741824, 512]);
    for (const bad of ['', 'x', '-1', '1Q', '3G']) expect(() => parseSize(bad)).toThrow(/invalid value for size-limit/);
  });

  it('--size-limit and --maxreqs in both spellings reach the restore', async () => {
    const store = join(tempDir(), 'content.sqlite');
    const r = await cli(['-q', '--checkpoint', '--size-limit', '0.09k', '--maxreqs', '3', `--store=${store}`, SMALL_TAR]);
    expect(r).toEqual({ code: 0, stdout: '', stderr: 'x size 100 exceeds 92 limit, skipping\n' });
  });

  it('--help lists every option on stdout', async () => {
    const r = await cli(['-h']);
    expect(r.code).toBe(0);
    for (const o of ['--help', '--verbose', '--quiet', '--checkpoint', '--key=KEY', '--no-cache', '--size-limit=SIZE', '--maxreqs=N', '--sd-notify', '--store=LOCATION', '--hash=sha1|sha256']) {
      expect(r.stdout).toContain(o);
    }
  });

  it('unknown options and a missing INFILE are usage errors', async () => {
    const unknown = await cli(['--frobnicate', '--checkpoint', SMALL_TAR]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^flux-restore: unrecognized option '--frobnicate'\nUsage: flux-restore \[OPTIONS\] INFILE\n/);
    const missing = await cli(['--checkpoint']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^flux-restore: missing INFILE\n/);
  });

  it('--hash accepts sha1 and sha256 only', async () => {
    const r = await cli(['--hash=md5', '--checkpoint', '--store', tempDir(), SMALL_TAR]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'flux-restore: invalid value for hash: md5 (sha1 or sha256)\n' });
  });

  it('errors are one line, never a stack trace', async () => {
    const r = await cli(['--checkpoint', '--store', tempDir(), '/nonexistent/dump.tgz']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'flux-restore: /nonexistent/dump.tgz: No such file or directory\n' });
  });

  it('-v and --no-cache restore like flux-core', async () => {
    const store = join(tempDir(), 'content.sqlite');
    const r = await cli(['-v', '--no-cache', '--checkpoint', `--store=${store}`, SMALL_TAR]);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n').slice(0, 3)).toEqual(['empty', 'y -> linkedthing', 'z -> smurf::otherthing']);
    expect(readSqliteStore(store).checkpoints[0]).toContain(SMALL_ROOT);
  });
});

describe('compiled CLI', () => {
  beforeAll(() => {
    // Spawn only a current build: rebuild when any source is newer than the entry point.
    const newest = (dir: string): number =>
      Math.max(...readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? newest(join(dir, d.name)) : statSync(join(dir, d.name)).mtimeMs)));
    const built = () => {
      try {
        return statSync(CLI).mtimeMs;
      } catch {
        return 0; // not built yet
      }
    };
    if (built() < newest(join(ROOT, 'src'))) {
      // tsc emits even when a file elsewhere in the tree has a type error: judge by the output
      const b = spawnSync('npm', ['run', 'build:ts'], { cwd: ROOT, encoding: 'utf8' });
      if (built() < newest(join(ROOT, 'src'))) throw new Error(`npm run build:ts did not update ${CLI}:\n${b.stdout}${b.stderr}`);
    }
  }, 300_000);

  const restoreStdin = (input: Buffer, store: string) =>
    spawnSync(process.execPath, [CLI, '--checkpoint', `--store=${store}`, '-'], { input, encoding: 'utf8', env: { ...process.env, FLUX_URI: '' } });

  it('reads a tar from stdin (-)', () => {
    const store = join(tempDir(), 'content.sqlite');
    const r = restoreStdin(readFileSync(SMALL_TAR), store);
    expect(r.stderr).toContain('\rflux-restore: restored 10 keys (4 blobs)\n');
    expect(r.status).toBe(0);
    const dump = readSqliteStore(store);
    expect(dump.objects).toHaveLength(4);
    expect(dump.checkpoints[0]).toContain(SMALL_ROOT);
  });

  it('reads gzip, zip and ISO from stdin (zip and ISO spooled for positioned reads)', () => {
    for (const f of ['small.tar.gz', 'small.zip', 'small.iso']) {
      const store = join(tempDir(), 'content.sqlite');
      const r = restoreStdin(readFileSync(join(SMALL, f)), store);
      expect(`${f}: ${r.status}`).toBe(`${f}: 0`);
      expect(readSqliteStore(store).checkpoints[0]).toContain(SMALL_ROOT);
    }
  });

  it('exits 1 with one line on error', () => {
    const r = spawnSync(process.execPath, [CLI, SMALL_TAR], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('flux-restore: Please specify a restore target with --checkpoint or --key\n');
  });
});

describe('--sd-notify', () => {
  it('sends STATUS= to $NOTIFY_SOCKET, ending with the final count', async () => {
    const dir = tempDir();
    const sock = join(dir, 'notify');
    // a datagram listener: prints each message on its own line until 2 s of silence
    const listener = spawn('python3', ['-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('ready', flush=True)
s.settimeout(10)
while True:
    try:
        m = s.recv(65536)
    except socket.timeout:
        break
    print(m.decode(), flush=True)
    s.settimeout(2)
`, sock]);
    let out = '';
    listener.stdout.on('data', (d) => (out += String(d)));
    await new Promise<void>((resolve) => {
      const check = () => (out.includes('ready') ? resolve() : setTimeout(check, 20));
      check();
    });
    const store = join(dir, 'content.sqlite');
    const r = await cli(['-q', '--sd-notify', '--checkpoint', `--store=${store}`, SMALL_TAR], { NOTIFY_SOCKET: sock, PATH: process.env.PATH });
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    await new Promise((resolve) => listener.on('exit', resolve));
    const messages = out.split('\n').filter((l) => l.startsWith('STATUS='));
    expect(messages.length).toBeGreaterThan(0);
    expect(messages[messages.length - 1]).toBe('STATUS=flux-restore(1) has restored 10 keys');
  }, 30_000);

  it('without NOTIFY_SOCKET is silent', async () => {
    const r = await cli(['-q', '--sd-notify', '--checkpoint', `--store=${join(tempDir(), 'c.sqlite')}`, SMALL_TAR], { PATH: process.env.PATH });
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});
