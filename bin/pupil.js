#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, with `.wgsl?raw` imports resolved as Vite does.
import { register } from 'tsx/esm/api';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
register();
await import(pathToFileURL(join(root, 'scripts/register-wgsl.mjs')).href);
await import(pathToFileURL(join(root, 'src/cli/main.ts')).href);
