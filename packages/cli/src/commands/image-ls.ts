import type { ImageView } from '@vxnet/common/api';
import { engineCall, resolveEngine, type EngineFlags } from '../engine-client.js';
import { decimalSize, timeAgo } from '../format.js';
import { print, printJson, table } from '../output.js';

/** The IMAGE ID column: 12 hex digits, as docker shows it; the built-in image says so. */
export function imageIdText(img: Pick<ImageView, 'id' | 'builtin'>): string {
  return img.builtin ? '(built-in)' : img.id.replace(/^sha256:/, '').slice(0, 12);
}

/** One row per tag (an untagged image: one row of <none>), as `docker images`. */
export function imageRows(images: ImageView[], now = Date.now()): string[][] {
  return images.flatMap((img) => {
    const tags = img.tags.length > 0 ? img.tags : ['<none>:<none>'];
    return tags.map((t) => {
      const i = t.lastIndexOf(':');
      return [t.slice(0, i), t.slice(i + 1), imageIdText(img), img.created ? timeAgo(img.created, now) : '-', img.builtin ? '-' : decimalSize(img.size)];
    });
  });
}

/** `vxnet [-H HOST] image ls [-q] [--json]`: the images of the engine's host. */
export async function imageLsCommand(flags: { json?: boolean; quiet?: boolean }, conn: EngineFlags): Promise<number> {
  const { images } = await engineCall<{ images: ImageView[] }>(resolveEngine(conn), 'GET', '/v1/images');
  if (flags.json) printJson(images);
  else if (flags.quiet) {
    const ids = images.filter((i) => !i.builtin).map((i) => imageIdText(i));
    if (ids.length > 0) print(ids.join('\n'));
  } else print(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], imageRows(images)));
  return 0;
}
