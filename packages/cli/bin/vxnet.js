#!/usr/bin/env node
// Launcher. The CLI is compiled to dist/src (tsc -b) and bundled to dist/bundle
// (scripts/bundle.mjs, part of `npm run build`): the bundle starts faster. It runs only
// when it is newer than the builds it was made from, so a `tsc -b` without the bundle
// step never runs stale code: then dist/src runs, the same code, slower to start.
import { statSync } from 'node:fs';

const at = (path) => new URL(path, import.meta.url);
const mtime = (path) => statSync(at(path)).mtimeMs;
let entry = '../dist/src/bin.js';
try {
  const bundle = mtime('../dist/bundle/bin.js');
  const built = ['../dist/tsconfig.tsbuildinfo', '../../common/dist/tsconfig.tsbuildinfo'].map(mtime);
  if (built.every((t) => t <= bundle)) entry = '../dist/bundle/bin.js';
} catch {
  // no bundle (or no build): dist/src
}
// a bug's stack (VXNET_DEBUG=1) names the TypeScript sources
if (process.env.VXNET_DEBUG) process.setSourceMapsEnabled(true);
await import(entry);
