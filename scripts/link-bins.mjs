#!/usr/bin/env node
// Make `npx flux-dump` / `npx flux-restore` work inside this checkout right after
// `npm ci`: npm links the bins of dependencies into node_modules/.bin, never the
// project's own, so we link ours there (and make them executable).
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const binDir = join(root, 'node_modules/.bin');
mkdirSync(binDir, { recursive: true });
for (const [name, target] of Object.entries(bin)) {
  const file = join(root, target);
  if (!existsSync(file)) continue;
  chmodSync(file, 0o755);
  const link = join(binDir, name);
  rmSync(link, { force: true });
  symlinkSync(relative(binDir, file), link);
}
