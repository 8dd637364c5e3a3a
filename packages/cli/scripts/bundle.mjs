/**
 * Bundle the CLI for start-up speed (issue 15). Node 20's ESM loader costs about 1 ms
 * of CPU per file here (read, parse, link, several event-loop turns), and the CLI was
 * some thirty files plus commander's seven before its first line of output. The bundle:
 *
 *   dist/bundle/bin.js          the command table (bin.ts) and commander
 *   dist/bundle/verbs-*.js      every verb that talks to the controller or an engine,
 *                               one chunk, loaded by the first action that needs it
 *   dist/bundle/lab-verbs-*.js  the lab's verbs, cni install and the CLI's logger
 *                               (pino, @vxnet/cni): one chunk, loaded by those verbs only
 *   dist/bundle/chunk-*.js      what two of these share (esbuild's code splitting)
 *   dist/bundle/outside-server.js  the lab's outside responder, a process of its own
 *
 * The sources keep one module per verb, each imported lazily by bin.ts (STYLE.md 11);
 * only the bundle groups them, by rewriting bin.ts's `import('./commands/X.js')` into
 * `import('vxnet:verbs').then((m) => m.X)`. A verb import written another way is left
 * as it is: it then becomes a chunk of its own, which is slower and still correct.
 *
 * Run after `tsc -b` (root `npm run build`, scripts/bootstrap.sh); it bundles the
 * compiled JavaScript, so the bundle is exactly the code tsc built. bin/vxnet.js runs
 * the bundle only when it is newer than the builds it was made from, else the
 * unbundled dist/src (same code, slower start), so a stale bundle never runs.
 *
 * What is bundled: this package, @vxnet/common and commander. Everything else stays an
 * ordinary import resolved from node_modules at run time: packages that find their own
 * files next to their code (@vxnet/cni's CNI executable, etcd3's .proto files, pino's
 * transport workers) or that only the lab loads.
 */
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Modules bin.ts imports lazily that go to the lab-verbs chunk; every other one goes to verbs. */
const LAB = /^(commands\/lab-|commands\/cni-|cli-logger$)/;
const BUNDLED = /^(commander|@vxnet\/common)(\/|$)/;

/** Lazily imported modules of bin.ts, by group, as bin.ts names them (`commands/net-ls`). */
const groups = { verbs: new Set(), 'lab-verbs': new Set() };
const key = (mod) => mod.replace(/[^a-z0-9]/gi, '_');

const plugin = (pure) => ({
  name: 'vxnet-cli',
  setup(b) {
    b.onLoad({ filter: /\/dist\/src\/bin\.js$/ }, async (args) => {
      const text = (await readFile(args.path, 'utf8')).replace(/import\('\.\/(commands\/[a-z-]+|cli-logger)\.js'\)/g, (_m, mod) => {
        const group = LAB.test(mod) ? 'lab-verbs' : 'verbs';
        groups[group].add(mod);
        return `import('vxnet:${group}').then((m) => m.${key(mod)})`;
      });
      if (groups.verbs.size === 0 || groups['lab-verbs'].size === 0) throw new Error('bundle: found none of bin.js\'s lazy imports (import(\'./commands/X.js\')) to group');
      return { contents: text, loader: 'js' };
    });
    b.onResolve({ filter: /^vxnet:/ }, (args) => ({ path: args.path.slice('vxnet:'.length), namespace: 'vxnet' }));
    b.onLoad({ filter: /.*/, namespace: 'vxnet' }, (args) => ({
      contents: [...groups[args.path]].map((mod) => `export * as ${key(mod)} from './dist/src/${mod}.js';`).join('\n'),
      resolveDir: root,
    }));
    // bare specifiers outside BUNDLED stay imports (node: builtins are external on platform node)
    b.onResolve({ filter: /^[^./]/ }, (args) => (BUNDLED.test(args.path) || args.path.startsWith('node:') ? undefined : { path: args.path, external: true }));
    // @vxnet/common's modules only declare things (no top-level work): unused
    // re-exports of its index fall away, with what they import (pino, ...). Sound only
    // where esbuild does not wrap modules for lazy initialization (it would drop an
    // init call as side-effect free): checked after the build.
    if (!pure) return;
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'inner' || !(args.path.startsWith('@vxnet/common') || args.importer.includes('/packages/common/'))) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'inner' });
      return r.errors.length > 0 || r.external ? undefined : { path: r.path, sideEffects: false };
    });
  },
});

const options = {
  absWorkingDir: root,
  outdir: 'dist/bundle',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true, // chains tsc's maps: VXNET_DEBUG stacks point into src/*.ts
  // commander is CommonJS: its require() of node builtins needs a require in ESM
  banner: { js: "import { createRequire as __vxnetRequire } from 'node:module'; const require = __vxnetRequire(import.meta.url);" },
  logLevel: 'warning',
};
rmSync(`${root}dist/bundle`, { recursive: true, force: true });
const cli = await build({ ...options, entryPoints: { bin: 'dist/src/bin.js' }, splitting: true, chunkNames: '[name]-[hash]', plugins: [plugin(true)], write: false });
for (const f of cli.outputFiles) {
  if (f.path.endsWith('.js') && f.text.includes('__esm(')) throw new Error(`bundle: ${f.path} initializes modules lazily (__esm): the side-effect-free marking of @vxnet/common is unsound there`);
}
for (const f of cli.outputFiles) {
  mkdirSync(dirname(f.path), { recursive: true });
  writeFileSync(f.path, f.contents);
}
// the lab's outside responder runs as a process of its own (lab/outside.ts finds it
// next to the code that starts it): a build of its own, sharing no chunk with the CLI
await build({ ...options, entryPoints: { 'outside-server': 'dist/src/lab/outside-server.js' }, plugins: [plugin(false)] });
