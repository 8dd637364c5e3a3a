// Builds native/build/Release/vxnet_native.node with node-gyp. Run by the
// package's `install` script (so `npm ci` builds it) and by `npm run build:native`.
// node-gyp downloads Node headers unless told where they are; this machine kind
// has them in /usr/include/node (Debian's nodejs), so pass --nodedir=/usr.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function nodeGyp() {
  // npm sets npm_config_node_gyp to its bundled node-gyp for lifecycle scripts.
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
    return process.env.npm_config_node_gyp;
  }
  return require.resolve('node-gyp/bin/node-gyp.js');
}

const args = [nodeGyp(), 'rebuild', '--directory', here];
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node.h')) args.push('--nodedir=/usr');
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`vxnet native addon: node-gyp failed (${r.status ?? r.signal}); see output above`);
  process.exit(1);
}
const out = join(here, 'build', 'Release', 'vxnet_native.node');
if (!existsSync(out)) {
  console.error(`vxnet native addon: ${out} missing after build`);
  process.exit(1);
}
