/** The lifecycle verbs' flags, parsed before anything is sent: --restart, --since, cp's sides, --detach-keys, and the detach matcher. */
import t from 'tap';
import { DetachMatcher, parseDetachKeys } from '@vxnet/common/api';
import { parseCpSide } from '../src/commands/cp.js';
import { parseSince } from '../src/commands/logs.js';
import { statusText } from '../src/commands/ps.js';
import { detachKeysFlag, runRequest } from '../src/commands/run.js';

t.test('run: --restart, -w, -u, --entrypoint, --rm into the request; a bad --restart is one line', async (t) => {
  t.match(runRequest('busybox', [], { detach: true, restart: 'on-failure:2', workdir: '/tmp', user: 'nobody', entrypoint: '/bin/echo', rm: false }),
    { restart: { name: 'on-failure', maximumRetryCount: 2 }, workdir: '/tmp', user: 'nobody', entrypoint: ['/bin/echo'] });
  t.same(runRequest('busybox', [], { entrypoint: '' }).entrypoint, [], '--entrypoint "" clears');
  t.equal(runRequest('busybox', [], { detach: true, rm: true }).autoRemove, true, '-d --rm: the engine removes it');
  t.equal(runRequest('busybox', [], { rm: true }).autoRemove, undefined, 'attached --rm: the CLI removes it after reading its code');
  t.throws(() => runRequest('busybox', [], { restart: 'sometimes' }), /^invalid --restart "sometimes": unknown policy "sometimes"/);
  t.throws(() => runRequest('busybox', [], { restart: 'on-failure:two' }), /^invalid --restart "on-failure:two": the retry count "two" is not a whole number/);
});

t.test('logs --since: a time, Unix seconds, or a duration back from now', async (t) => {
  const now = Date.parse('2026-11-29T14:00:00Z');
  t.equal(parseSince('2026-11-29T13:00:00Z', now), Date.parse('2026-11-29T13:00:00Z'));
  t.equal(parseSince('1764424800', now), 1764424800_000);
  t.equal(parseSince('1764424800.5', now), 1764424800_500);
  t.equal(parseSince('42s', now), now - 42_000);
  t.equal(parseSince('10m', now), now - 600_000);
  t.equal(parseSince('1h30m', now), now - 5_400_000);
  t.throws(() => parseSince('yesterday', now), /^invalid --since "yesterday": expected a time/);
  t.throws(() => parseSince('', now), /invalid --since ""/);
});

t.test('cp: C:PATH is a container path; local paths may hold colons after a slash', async (t) => {
  t.same(parseCpSide('c1:/tmp/x'), { container: 'c1', path: '/tmp/x' });
  t.same(parseCpSide('c1:../../etc/passwd'), { container: 'c1', path: '../../etc/passwd' }, 'left for the engine to refuse');
  t.same(parseCpSide('./a:b'), { local: './a:b' });
  t.same(parseCpSide('/tmp/a:b'), { local: '/tmp/a:b' });
  t.same(parseCpSide('file'), { local: 'file' });
  t.throws(() => parseCpSide('c1:'), /no path after "c1:"/);
});

t.test('detach keys: docker\'s notation; held back until the sequence breaks', async (t) => {
  t.same([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
  t.same([...parseDetachKeys('ctrl-@,ctrl-[,ctrl-_,a')], [0, 27, 31, 97]);
  t.throws(() => detachKeysFlag('ctrl-1'), /^invalid --detach-keys "ctrl-1": "ctrl-1" is not a key/);
  t.throws(() => detachKeysFlag(''), /the sequence is empty/);
  const m = new DetachMatcher(parseDetachKeys('ctrl-p,ctrl-q'));
  t.same(m.push(Buffer.from('ls\r')), { pass: Buffer.from('ls\r'), detach: false });
  t.same(m.push(Buffer.from([16])), { pass: Buffer.alloc(0), detach: false }, 'ctrl-p held');
  t.same(m.push(Buffer.from('x')), { pass: Buffer.from([16, 120]), detach: false }, 'broken: passed on with what follows');
  t.same(m.push(Buffer.from([65, 16, 16, 17, 66])), { pass: Buffer.from([65, 16]), detach: true }, 'ctrl-p ctrl-p ctrl-q: the first goes on, then detach');
});

t.test('ps: Restarting while a restart by policy waits out its back-off', async (t) => {
  const now = Date.parse('2026-11-29T14:00:10Z');
  const base = { status: 'exited' as const, exitCode: 1, startedAt: '2026-11-29T14:00:00Z', finishedAt: '2026-11-29T14:00:05Z' };
  t.equal(statusText({ ...base, restarting: true }, now), 'Restarting (1) 5 seconds ago');
  t.equal(statusText({ ...base, restarting: false }, now), 'Exited (1) 5 seconds ago');
  t.equal(statusText({ ...base, status: 'running', restarting: false }, now), 'Up 10 seconds');
});
