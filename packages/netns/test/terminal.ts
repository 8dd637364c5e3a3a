/**
 * The addon's descriptor passing, as runc's --console-socket uses it: a descriptor
 * sent with SCM_RIGHTS arrives (python's socket.send_fds plays runc: Node cannot send
 * one); a peer that sends none, and no peer at all, end the wait with a code instead
 * of hanging; TIOCSWINSZ refuses what is not a terminal.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NATIVE_ADDON_PATH, native } from '../src/native.js';

const python = (() => {
  try {
    execFileSync('python3', ['-c', 'import socket; socket.send_fds'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

if (!existsSync(NATIVE_ADDON_PATH)) {
  t.plan(0, `skip: native addon not built: ${NATIVE_ADDON_PATH}`);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-terminal-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const listen = () => {
    const path = join(dir, `s${n++}.sock`);
    return { path, fd: native().listenUnix(path) };
  };

  t.test('a descriptor sent over the socket arrives and reads the same file', { skip: python ? false : 'python3 with socket.send_fds is missing' }, async (t) => {
    const s = listen();
    const received = native().recvFd(s.fd, 5000);
    // the sender: open a file it wrote, send its descriptor, exit (fixed program, path as an argument)
    const sender = spawn('python3', ['-c', [
      'import os, socket, sys',
      'p = sys.argv[1] + ".data"',
      'open(p, "w").write("from the sender")',
      'fd = os.open(p, os.O_RDONLY)',
      'c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); socket.send_fds(c, [b"x"], [fd])',
    ].join('\n'), s.path], { stdio: 'inherit' });
    const closed = new Promise((resolve) => sender.on('close', resolve));
    const fd = await received;
    const buf = Buffer.alloc(64);
    const len = readSync(fd, buf, 0, buf.length, 0);
    t.equal(buf.subarray(0, len).toString(), 'from the sender');
    closeSync(fd);
    closeSync(s.fd);
    await closed;
  });

  t.test('a peer that sends no descriptor: ENODATA; nobody at all: ETIMEDOUT, on time', async (t) => {
    const s = listen();
    const received = native().recvFd(s.fd, 5000);
    connect(s.path).end();
    await t.rejects(received, { code: 'ENODATA' });
    const t0 = Date.now();
    await t.rejects(native().recvFd(s.fd, 200), { code: 'ETIMEDOUT' });
    t.ok(Date.now() - t0 < 2000, `gave up after ${Date.now() - t0} ms`);
    closeSync(s.fd);
  });

  t.test('TIOCSWINSZ on what is not a terminal: ENOTTY', async (t) => {
    const fd = openSync('/dev/null', 'r');
    t.throws(() => native().setWinsize(fd, 24, 80), { code: 'ENOTTY' });
    const copy = native().dup(fd);
    t.not(copy, fd, 'dup gives another descriptor');
    closeSync(copy);
    closeSync(fd);
  });
}
