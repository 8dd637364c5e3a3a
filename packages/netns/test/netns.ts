import t from 'tap';
import { closeSync, existsSync, openSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRtNetlink } from 'netlink';

import { deleteNetns, ensureNetns, inNetns, listNetns, netnsId, netnsPath, NETNS_RUN_DIR } from '../src/netns.js';
import { namespaceSupportMissing } from '../src/native.js';

const skip = namespaceSupportMissing();
const prefix = `vxt${process.pid}-ns`;

function own(): string {
  return readlinkSync('/proc/thread-self/ns/net');
}

if (skip) {
  t.plan(0, `skip: ${skip}`);
} else {
  t.teardown(() => {
    for (const n of listNetns(prefix)) deleteNetns(n);
  });

  t.test('netnsPath names files under /run/netns and rejects path tricks', async (t) => {
    t.equal(netnsPath('abc'), `${NETNS_RUN_DIR}/abc`);
    for (const bad of ['', '.', '..', 'a/b', '../x', 'a b']) t.throws(() => netnsPath(bad), TypeError, `rejects "${bad}"`);
  });

  t.test('ensureNetns creates a namespace, idempotently, visible to ip netns', async (t) => {
    const name = `${prefix}-a`;
    const before = own();
    const path = ensureNetns(name);
    t.equal(path, netnsPath(name));
    t.equal(own(), before, 'the calling thread did not move');
    const id = netnsId(name);
    t.ok(id, 'mounted');
    t.equal(ensureNetns(name), path, 'second call returns the same path');
    t.equal(netnsId(name), id, 'and the same namespace');
    t.ok(listNetns(prefix).includes(name), 'listed');
    t.match(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), name, 'ip netns list shows it');
    const links = execFileSync('ip', ['-n', name, '-o', 'link'], { encoding: 'utf8' }).trim().split('\n');
    t.equal(links.length, 1, 'a fresh namespace has only lo');
    t.match(links[0], /lo:/);
    const mounts = execFileSync('findmnt', ['-no', 'PROPAGATION', NETNS_RUN_DIR], { encoding: 'utf8' });
    t.match(mounts, /shared/, '/run/netns is a shared mount');
  });

  t.test('ensureNetns reuses a leftover plain file', async (t) => {
    const name = `${prefix}-left`;
    ensureNetns(`${prefix}-a`); // makes sure /run/netns exists
    closeSync(openSync(netnsPath(name), 'w'));
    const plain = statSync(netnsPath(name)).dev;
    ensureNetns(name);
    t.not(statSync(netnsPath(name)).dev, plain, 'now an nsfs mount');
    deleteNetns(name);
  });

  t.test('deleteNetns removes, and absent is success', async (t) => {
    const name = `${prefix}-d`;
    ensureNetns(name);
    deleteNetns(name);
    t.notOk(existsSync(netnsPath(name)), 'file gone');
    t.notOk(listNetns(prefix).includes(name), 'not listed');
    t.doesNotThrow(() => deleteNetns(name), 'second delete is success');
    t.doesNotThrow(() => deleteNetns(`${prefix}-never`), 'never existed is success');
    writeFileSync(netnsPath(name), '');
    t.doesNotThrow(() => deleteNetns(name), 'a leftover plain file is removed');
    t.notOk(existsSync(netnsPath(name)));
  });

  t.test('inNetns runs synchronously inside and always returns', async (t) => {
    const name = `${prefix}-in`;
    const path = ensureNetns(name);
    const before = own();
    const inside = inNetns(name, () => own());
    t.not(inside, before, 'was in another namespace');
    t.equal(inside, `net:[${statSync(path).ino}]`, 'the named one');
    t.equal(own(), before, 'back home');
    t.equal(inNetns(path, () => own()), inside, 'accepts a path too');

    t.throws(() => inNetns(name, () => { throw new Error('boom'); }), /boom/, 'errors propagate');
    t.equal(own(), before, 'back home after a throw');

    t.throws(() => inNetns(name, () => Promise.resolve(1)), TypeError, 'a promise is refused');
    t.equal(own(), before, 'back home after that');

    t.throws(() => inNetns(`${prefix}-absent`, () => 1), { code: 'ENOENT' }, 'absent namespace: ENOENT');
    t.equal(own(), before);

    // The netlink package opens its socket in its constructor: made inside, it stays there.
    const sock = inNetns(name, () => createRtNetlink());
    try {
      const links = await sock.getLinks();
      t.same(links.map((l) => l.attrs.ifname), ['lo'], 'a socket made inside sees the namespace, not ours');
    } finally {
      sock.socket.close();
    }
  });
}
