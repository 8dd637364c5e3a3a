import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { list } from 'tar';
import type { ImageView } from '@vxnet/common/api';
import { archiveStream } from '../src/commands/image-load.js';
import { imageIdText, imageRows } from '../src/commands/image-ls.js';

const view = (over: Partial<ImageView>): ImageView => ({
  id: `sha256:${'ab'.repeat(32)}`, tags: [], builtin: false, layers: [], size: 12_345_678, architecture: 'amd64', os: 'linux',
  created: '2026-11-29T00:00:00Z', loadedAt: '2026-11-29T00:00:00Z',
  config: { entrypoint: [], cmd: [], env: [], workingDir: '', user: '', exposedPorts: [] }, ...over,
});

t.test('image ls: a row per tag, <none> for an untagged image, the built-in one marked', async (t) => {
  const now = Date.parse('2026-11-29T02:00:00Z');
  t.same(imageRows([view({ tags: ['web:1', 'reg.example:5000/web:2'] }), view({}), view({ id: 'builtin:busybox', builtin: true, tags: ['busybox:latest'], created: null })], now), [
    ['web', '1', 'abababababab', '2 hours ago', '12.35MB'],
    ['reg.example:5000/web', '2', 'abababababab', '2 hours ago', '12.35MB'],
    ['<none>', '<none>', 'abababababab', '2 hours ago', '12.35MB'],
    ['busybox', 'latest', '(built-in)', '-', '-'],
  ]);
  t.equal(imageIdText(view({})), 'abababababab');
});

t.test('image load: a directory is sent as a tar of its contents; a missing path is one clear line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vx-cli-oci-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  writeFileSync(join(dir, 'index.json'), '{}');
  writeFileSync(join(dir, 'oci-layout'), '{}');
  const names: string[] = [];
  const parser = list({ onReadEntry: (e) => void names.push(e.path) });
  for await (const chunk of archiveStream(dir)) parser.write(chunk as Buffer);
  parser.end();
  t.same(names.sort(), ['./', './blobs/', './blobs/sha256/', './index.json', './oci-layout']);
  t.throws(() => archiveStream(join(dir, 'nope.tar')), /could not load image: cannot read .*nope.tar \(ENOENT\)/);
});
