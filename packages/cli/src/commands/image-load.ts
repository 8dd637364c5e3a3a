import { statSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { c as packTar } from 'tar';
import { InvalidArgument } from '@vxnet/common';
import type { ImageLoadResult } from '@vxnet/common/api';
import { engineUpload, resolveEngine, type EngineFlags } from '../engine-client.js';
import { print, printJson } from '../output.js';

/** The archive to send: a tar file (gzipped or not) as it is, or an OCI layout directory packed on the fly. */
export function archiveStream(path: string): Readable {
  let isDir: boolean;
  try {
    const st = statSync(path);
    if (!st.isFile() && !st.isDirectory()) throw new InvalidArgument(`could not load image: ${path} is neither a file nor a directory`);
    isDir = st.isDirectory();
  } catch (err) {
    if (err instanceof InvalidArgument) throw err;
    throw new InvalidArgument(`could not load image: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // portable: no owner names or atimes, which an image layout does not need
  return isDir ? (packTar({ cwd: path, portable: true }, ['.']) as unknown as Readable) : createReadStream(path);
}

/** `vxnet [-H HOST] image load -i FILE|DIR [--json]`: load a docker save tarball or an OCI layout (tar or directory); prints what was loaded. */
export async function imageLoadCommand(flags: { input?: string; json?: boolean }, conn: EngineFlags): Promise<number> {
  if (flags.input === undefined) throw new InvalidArgument('image load needs -i FILE (a docker save tarball, or an OCI image layout as a tar or a directory)');
  const target = resolveEngine(conn);
  const res = await engineUpload<ImageLoadResult>(target, '/v1/images/load', archiveStream(flags.input), 'application/x-tar');
  if (flags.json) printJson(res);
  else {
    print(res.images.map((i) => (i.tags.length > 0 ? i.tags.map((t) => `Loaded image: ${t}`).join('\n') : `Loaded image ID: ${i.id}`)).join('\n'));
  }
  return 0;
}
