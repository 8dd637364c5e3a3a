import type { ImageView } from '@vxnet/common/api';
import { engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { decimalSize, timeWithAgo } from '../format.js';
import { fields, print, printJson } from '../output.js';

/** `vxnet [-H HOST] image inspect [--json] IMAGE`: id, tags, layers and what a container of it runs. */
export async function imageInspectCommand(ref: string, flags: { json?: boolean }, conn: EngineFlags): Promise<number> {
  const img = await engineCall<ImageView>(resolveEngine(conn), 'GET', `/v1/images/${seg(ref)}`);
  if (flags.json) {
    printJson(img);
    return 0;
  }
  const c = img.config;
  const list = (v: string[]) => (v.length > 0 ? JSON.stringify(v) : '-');
  print(fields([
    ['ID', img.id],
    ['Tags', img.tags.join(', ') || '<none>'],
    ['Platform', `${img.os}/${img.architecture}`],
    ['Created', img.created ?? '-'],
    ['Loaded', img.loadedAt ? timeWithAgo(img.loadedAt) : img.builtin ? 'built into the engine' : '-'],
    ['Size', img.builtin ? '-' : decimalSize(img.size)],
    ['Entrypoint', list(c.entrypoint)],
    ['Cmd', list(c.cmd)],
    ['Env', c.env.join(' ') || '-'],
    ['WorkingDir', c.workingDir || '/'],
    ['User', c.user || 'root'],
    ['ExposedPorts', c.exposedPorts.join(', ') || '-'],
    ['Layers', img.layers.length > 0 ? `${img.layers.length}: ${img.layers.map((d) => d.slice(7, 19)).join(' ')}` : '-'],
  ]));
  return 0;
}
