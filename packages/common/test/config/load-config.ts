import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigInvalid, VxnetError, absolutePath, between, daemonConfig, formatConfig, loadConfig, type ConfigSchema, type LoadConfigOptions } from '../../src/index.js';

/** A daemon's worth of settings, one of each type. */
interface TestConfig {
  name: string;
  stateDir: string;
  cacheDir: string;
  ttl: number;
  margin: number;
  servers: string[];
  logFile: string | null;
  debug: boolean;
}

let detections = 0;
const SCHEMA: ConfigSchema<TestConfig> = {
  name: { type: 'string', default: () => { detections++; return 'detected'; }, env: 'VXNET_T_NAME', flag: 'name', doc: 'name', validate: (v) => (v === '' ? 'must not be empty' : undefined) },
  stateDir: { type: 'string', default: '/var/lib/t', env: 'VXNET_T_STATE_DIR', flag: 'state-dir', doc: 'state', validate: absolutePath },
  cacheDir: { type: 'string', default: (c) => `${c.stateDir}/cache`, env: 'VXNET_T_CACHE_DIR', flag: 'cache-dir', doc: 'cache (default: stateDir/cache)', validate: absolutePath },
  ttl: { type: 'integer', default: 60, env: 'VXNET_T_TTL', flag: 'ttl', doc: 'seconds', validate: between(10, 3600, 'seconds') },
  margin: { type: 'integer', default: 5, env: 'VXNET_T_MARGIN', flag: 'margin', doc: 'seconds', validate: (v, c) => (v < c.ttl ? undefined : `must be less than ttl (${c.ttl})`) },
  servers: { type: 'string[]', default: ['192.0.2.1'], env: 'VXNET_T_SERVERS', flag: 'server', doc: 'servers' },
  logFile: { type: 'string|null', default: null, env: 'VXNET_T_LOG_FILE', flag: 'log-file', doc: 'log file' },
  debug: { type: 'boolean', default: false, env: 'VXNET_T_DEBUG', flag: 'debug', doc: 'debug' },
};

const dir = mkdtempSync(join(tmpdir(), 'vxnet-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** A config file holding `content` (an object is written as JSON). */
function file(content: unknown): string {
  const path = join(dir, `c${++n}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}
const NO_FILE = join(dir, 'absent.json');
const load = (argv: string[], opts: LoadConfigOptions = {}) => {
  const req = loadConfig('test', SCHEMA, argv, { env: {}, defaultFile: NO_FILE, ...opts });
  if (req.action === 'help') throw new Error('unexpected help');
  return req;
};
/** The problems of the ConfigInvalid that `fn` throws. */
function problemsOf(t: Test, fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    t.type(err, ConfigInvalid);
    t.equal((err as VxnetError).code, 'VXNET_CONFIG_INVALID');
    const m = /^invalid test configuration: (.*)$/.exec((err as Error).message);
    t.ok(m, 'one message: "invalid test configuration: ..."');
    return (m?.[1] ?? '').split('; ');
  }
  t.fail('expected ConfigInvalid');
  return [];
}

t.test('no file, no environment, no flags: the defaults, computed ones included', async (t) => {
  detections = 0;
  const { config, file: read, action } = load([]);
  t.equal(action, 'run');
  t.equal(read, null, 'a missing default file is no file');
  t.same(config, { name: 'detected', stateDir: '/var/lib/t', cacheDir: '/var/lib/t/cache', ttl: 60, margin: 5, servers: ['192.0.2.1'], logFile: null, debug: false });
  t.equal(detections, 1, 'a default function runs once');
  load(['--name', 'given']);
  t.equal(detections, 1, 'and not at all when a source sets the key');
});

t.test('defaults < file < environment < flags, key by key', async (t) => {
  const path = file({ name: 'from-file', stateDir: '/srv/file', ttl: 100, margin: 7, servers: ['192.0.2.7'], debug: true });
  const env = { VXNET_T_STATE_DIR: '/srv/env', VXNET_T_TTL: '200', VXNET_T_SERVERS: '' };
  const { config, file: read } = load(['--config', path, '--ttl', '300', '--log-file=/var/log/t.log'], { env });
  t.equal(read, path);
  t.same(config, {
    name: 'from-file', // file only
    stateDir: '/srv/env', // env beats file
    cacheDir: '/srv/env/cache', // default derived from the effective stateDir
    ttl: 300, // flag beats env and file
    margin: 7,
    servers: [], // an empty variable is the empty list, not "unset"
    logFile: '/var/log/t.log',
    debug: true,
  });
});

t.test('the default file is read when --config is not given', async (t) => {
  const path = file({ ttl: 90 });
  const { config, file: read } = load([], { defaultFile: path });
  t.equal(read, path);
  t.equal(config.ttl, 90);
  t.equal(load(['--config', file({ ttl: 120 })], { defaultFile: path }).config.ttl, 120, '--config replaces the default file');
});

t.test('text from the environment and flags converts by type', async (t) => {
  const env = { VXNET_T_DEBUG: '1', VXNET_T_SERVERS: ' 192.0.2.1:53, 192.0.2.2 ,', VXNET_T_LOG_FILE: '' };
  t.match(load([], { env }).config, { debug: true, servers: ['192.0.2.1:53', '192.0.2.2'], logFile: null }, '1 is true; list trimmed; "" is null');
  t.equal(load([], { env: { VXNET_T_DEBUG: 'false' } }).config.debug, false);
  t.equal(load(['--debug'], { env: { VXNET_T_DEBUG: 'false' } }).config.debug, true, 'a boolean flag alone means true');
  t.same(load(['--server', '']).config.servers, [], 'an explicit empty list');
  t.equal(load([], { env: { VXNET_T_LOG_FILE: '/x.log' } }).config.logFile, '/x.log');
});

t.test('every problem is listed in one error: file keys, flags, types, values', async (t) => {
  const path = file({ stateDir: 'relative', netnsPrefix: 'vx-', ttl: '60', servers: 'a,b' });
  const problems = problemsOf(t, () => load(['--config', path, '--netns-prefix', 'x', 'stray', '--margin', '999', '--debug=yes', '--name'], { env: { VXNET_T_CACHE_DIR: 'rel' } }));
  t.same(problems.sort(), [
    `cacheDir: must be an absolute path, got "rel" (from $VXNET_T_CACHE_DIR)`,
    'flag --debug takes no value, got "yes"',
    'flag --name needs a value',
    'margin: must be less than ttl (60), got 999 (from --margin)',
    `servers: expected a list of strings, got "a,b" (from ${path})`,
    `stateDir: must be an absolute path, got "relative" (from ${path})`,
    `ttl: expected a whole number, got "60" (from ${path})`,
    'unexpected argument "stray" (settings are given as --flag VALUE)',
    'unknown flag --netns-prefix (vxnet-test --help lists the flags)',
    `unknown key "netnsPrefix" in ${path} (known keys: name, stateDir, cacheDir, ttl, margin, servers, logFile, debug)`,
  ].sort());
});

t.test('a value from the environment that is not of the type', async (t) => {
  t.same(problemsOf(t, () => load([], { env: { VXNET_T_TTL: '1m', VXNET_T_DEBUG: 'yes' } })), [
    'ttl: expected a whole number, got "1m" (from $VXNET_T_TTL)',
    'debug: expected true or false, got "yes" (from $VXNET_T_DEBUG)',
  ]);
  t.same(problemsOf(t, () => load(['--ttl', '5000'])), ['ttl: must be 10-3600 seconds, got 5000 (from --ttl)']);
  t.same(problemsOf(t, () => load([], { defaultFile: file({ name: '' }) })).length, 1, 'a default that fails is reported too');
});

t.test('a config file that cannot be used is an error naming it, never "no settings"', async (t) => {
  const missing = join(dir, 'nope.json');
  t.same(problemsOf(t, () => load(['--config', missing])), [`could not read config file ${missing}: it does not exist`], 'a missing explicit file');
  const aDir = join(dir, 'a-directory.json');
  mkdirSync(aDir);
  t.match(problemsOf(t, () => load([], { defaultFile: aDir })), [new RegExp(`^could not read config file ${aDir}: EISDIR`)], 'an unreadable default file');
  const bad = file('{"ttl": 60,');
  t.match(problemsOf(t, () => load([], { defaultFile: bad })), [new RegExp(`^could not read config file ${bad}: invalid JSON \\(`)], 'invalid JSON');
  const list = file([1, 2]);
  t.same(problemsOf(t, () => load(['--config', list])), [`could not read config file ${list}: it must hold a JSON object of settings, got [1,2]`]);
  t.match(problemsOf(t, () => load(['--config', missing, '--ttl', 'x'])), [/nope\.json: it does not exist/, /ttl: expected a whole number/], 'listed with the other problems');
});

t.test('a config file without read permission', { skip: process.getuid?.() === 0 ? 'root reads any file' : false }, async (t) => {
  const locked = file({ ttl: 60 });
  chmodSync(locked, 0o000);
  t.match(problemsOf(t, () => load(['--config', locked])), [new RegExp(`^could not read config file ${locked}: EACCES`)]);
});

t.test('the result is frozen, lists too', async (t) => {
  const { config } = load(['--server', '192.0.2.1,192.0.2.2']);
  t.ok(Object.isFrozen(config));
  t.ok(Object.isFrozen(config.servers));
  t.throws(() => { (config as { ttl: number }).ttl = 1; }, TypeError);
  t.throws(() => { config.servers.push('x'); }, TypeError);
  load([]);
  t.notOk(Object.isFrozen(SCHEMA.servers.default), 'a default list is copied, not frozen in the schema');
});

t.test('--print-config prints the effective configuration, which reads back as a config file', async (t) => {
  const env = { VXNET_T_TTL: '120' };
  const req = load(['--print-config', '--state-dir', '/srv/t'], { env });
  t.equal(req.action, 'print-config');
  let out = '';
  const cfg = daemonConfig('test', SCHEMA, ['--print-config', '--state-dir', '/srv/t'], { env, defaultFile: NO_FILE, out: (s) => { out += s; } });
  t.equal(cfg, undefined, 'nothing to run: the caller exits 0');
  t.equal(out, formatConfig(req.config));
  t.same(JSON.parse(out), { ...req.config });
  const again = load(['--config', file(out)]);
  t.same(again.config, req.config, 'fed back as --config, the same configuration');
  t.throws(() => daemonConfig('test', SCHEMA, ['--print-config', '--ttl', '1'], { env: {}, defaultFile: NO_FILE, out: () => t.fail('printed') }), { code: 'VXNET_CONFIG_INVALID' }, 'an invalid configuration is not printed');
  t.same(daemonConfig('test', SCHEMA, ['--ttl', '30'], { env: {}, defaultFile: NO_FILE, out: () => t.fail('printed') })?.ttl, 30, 'without the flag: the configuration to run');
});

t.test('--help lists every flag with its variable and key, and needs no valid configuration', async (t) => {
  const req = loadConfig('test', SCHEMA, ['--help', '--ttl', 'bogus'], { env: {}, defaultFile: NO_FILE });
  t.equal(req.action, 'help');
  const usage = req.action === 'help' ? req.usage : '';
  for (const [key, s] of Object.entries(SCHEMA)) {
    t.match(usage, `--${s.flag}`);
    t.match(usage, `key "${key}", $${s.env}`);
  }
  t.match(usage, '--config FILE');
  t.match(usage, '--print-config');
});
