/**
 * Bundle the CLI for start-up speed (issue 15): `dist/bundle/bin.js` holds the
 * command table, commander and what every command shares; each verb's module stays
 * a chunk of its own, loaded only by that verb (code splitting keeps bin.ts's
 * dynamic imports lazy). Node then reads a handful of files instead of resolving
 * and compiling some thirty modules before the first line of output.
 *
 * Run after `tsc -b` (root `npm run build`, scripts/bootstrap.sh); it bundles the
 * compiled JavaScript, so the bundle is exactly the code tsc built. bin/vxnet.js
 * runs the bundle only when it is newer than every build it was made from, else the
 * unbundled dist/src (same code, slower start), so a stale bundle never runs.
 *
 * What is bundled: this package, @vxnet/common and commander. Everything else stays
 * an ordinary import resolved from node_modules at run time: packages that find
 * their own files next to their code (@vxnet/cni's CNI executable, etcd3's .proto
 * files, pino's transport workers) or are only ever loaded by one verb (the lab).
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BUNDLED = /^(commander|@vxnet\/common)(\/|$)/;

/** Bare specifiers outside BUNDLED stay imports (node: builtins are external on platform node). */
const externals = {
  name: 'vxnet-externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => (BUNDLED.test(args.path) || args.path.startsWith('node:') ? undefined : { path: args.path, external: true }));
    // @vxnet/common's modules only declare things (no top-level work): unused
    // re-exports of its index fall away, with what they import (pino, ...)
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'inner' || !(args.path.startsWith('@vxnet/common') || args.importer.includes('/packages/common/'))) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'inner' });
      return r.errors.length > 0 || r.external ? undefined : { path: r.path, sideEffects: false };
    });
  },
};

rmSync(`${root}dist/bundle`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { bin: 'dist/src/bin.js', 'outside-server': 'dist/src/lab/outside-server.js' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true, // chains tsc's maps: VXNET_DEBUG stacks point into src/*.ts
  plugins: [externals],
  // commander is CommonJS: its require() of node builtins needs a require in ESM
  banner: { js: "import { createRequire as __vxnetRequire } from 'node:module'; const require = __vxnetRequire(import.meta.url);" },
  logLevel: 'warning',
});
