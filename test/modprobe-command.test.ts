/**
 * How the modprobe task files run our commands: with the environment and Node options
 * of the compiled script's first line, as running the script itself would (flux-dump's
 * gzip needs its libuv pool size). The task files are loaded by python3 with the flux
 * modules stubbed: only their command lookup runs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function commandOf(taskFile: string, name: string): string[] {
  const script = `
import importlib.util, json, sys, types
flux = types.ModuleType("flux"); flux.Flux = object
mp = types.ModuleType("flux.modprobe"); mp.task = lambda *a, **k: (lambda f: f)
sys.modules["flux"] = flux; sys.modules["flux.modprobe"] = mp
spec = importlib.util.spec_from_file_location("task", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
print(json.dumps(m._command(sys.argv[2])))
`;
  const r = spawnSync('python3', ['-c', script, `${ROOT}modprobe/${taskFile}`, name], { encoding: 'utf8', env: { ...process.env, FLUXDUMP_NODE: '/opt/node/bin/node' } });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

describe('modprobe tasks run the compiled scripts with their shebang settings', () => {
  for (const [task, name] of [
    ['rc3.d/fluxdump.py', 'flux-dump'],
    ['rc1.d/fluxdump.py', 'flux-restore'],
  ] as const) {
    it(`${task}: ${name}`, () => {
      const script = `${ROOT}dist/cli/${name}.js`;
      const shebang = readFileSync(script, 'utf8').split('\n')[0]!;
      const words = shebang.slice(2).trim().split(/\s+/);
      const s = words.indexOf('-S');
      const settings = s < 0 ? [] : words.slice(s + 1);
      const nodeAt = settings.findIndex((w) => w === 'node' || w.endsWith('/node'));
      const assigns = settings.slice(0, Math.max(nodeAt, 0));
      const options = settings.slice(nodeAt + 1);
      const expected = [...(assigns.length > 0 ? ['env', ...assigns] : []), '/opt/node/bin/node', ...options, script];
      expect(commandOf(task, name)).toEqual(expected);
      if (name === 'flux-dump') expect(expected).toContain('UV_THREADPOOL_SIZE=6');
    });
  }
});
