import t from 'tap';
import { parseImageConfig } from '../src/image/image-config.js';

const D = `sha256:${'a'.repeat(64)}`;
const cfg = (config: unknown, rootfs: unknown = { type: 'layers', diff_ids: [D] }) => parseImageConfig(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config, rootfs })));

t.test('a config: entrypoint, cmd, env, workdir, user, exposed ports, layers', async (t) => {
  const c = cfg({ Entrypoint: ['/srv'], Cmd: ['-p', '80'], Env: ['PATH=/bin', 'A=1'], WorkingDir: '/data', User: 'app:app', ExposedPorts: { '80/tcp': {}, 53: {} } });
  t.same(c, {
    architecture: 'amd64', os: 'linux', created: null, diffIds: [D],
    config: { entrypoint: ['/srv'], cmd: ['-p', '80'], env: ['PATH=/bin', 'A=1'], workingDir: '/data', user: 'app:app', exposedPorts: ['53', '80/tcp'] },
  });
  t.same(typeof cfg({}) === 'object' && cfg({}), { architecture: 'amd64', os: 'linux', created: null, diffIds: [D], config: { entrypoint: [], cmd: [], env: [], workingDir: '', user: '', exposedPorts: [] } }, 'all optional');
  t.equal(typeof cfg(null), 'object', 'config: null is allowed (docker writes it for scratch images)');
});

t.test('bad configs are refused with what is wrong', async (t) => {
  t.match(cfg({ Cmd: 'sh -c x' }), /Cmd is not a list of strings/);
  t.match(cfg({ Cmd: ['sh', 3] }), /Cmd is not a list of strings/);
  t.match(cfg({ Cmd: [''] }), /Cmd starts with an empty program name/);
  t.match(cfg({ Entrypoint: {} }), /Entrypoint is not a list/);
  t.match(cfg({ Env: ['NOVALUE'] }), /Env entry "NOVALUE" is not KEY=VALUE/);
  t.match(cfg({ WorkingDir: 'rel' }), /WorkingDir "rel" is not an absolute path/);
  t.match(cfg({ User: 'a:b:c' }), /User "a:b:c" has more than one ":"/);
  t.match(cfg({ ExposedPorts: { 'http': {} } }), /ExposedPorts entry "http"/);
  t.match(cfg({}, { type: 'layers', diff_ids: ['md5:x'] }), /not sha256/);
  t.match(cfg({}, { type: 'layers', diff_ids: [] }), /no layers/);
  t.match(cfg({}, null), /no rootfs.diff_ids/);
  t.match(parseImageConfig(Buffer.from('{nope')), /not JSON/);
});

