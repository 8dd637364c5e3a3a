import t from 'tap';
import { spawn } from 'node:child_process';
import { isAlive, processStartTime, recordProcess, stopProcess } from '../src/index.js';

t.test('a recorded process is stopped by pid, and a recycled pid is not ours', async (t) => {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('exit', r));
  const rec = recordProcess(child.pid as number, 'sleep');
  t.equal(isAlive(rec), true);
  t.equal(isAlive({ ...rec, startTime: rec.startTime + 1 }), false, 'same pid, other start time: not the recorded process');
  await stopProcess({ ...rec, startTime: rec.startTime + 1 });
  t.equal(isAlive(rec), true, 'stopProcess leaves a process that is not the recorded one alone');
  await stopProcess(rec);
  await exited;
  t.equal(isAlive(rec), false);
  await stopProcess(rec);
  t.pass('stopping a stopped process is a no-op');
  t.equal(processStartTime(2 ** 22 + 1), undefined, 'no such pid');
});

t.test('a process that ignores SIGTERM is killed after the grace time', async (t) => {
  const child = spawn('sh', ['-c', 'trap "" TERM; echo ready; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((r) => child.stdout.once('data', r));
  const exited = new Promise((r) => child.on('exit', (_code, sig) => r(sig)));
  const rec = recordProcess(child.pid as number, 'sh');
  const t0 = Date.now();
  await stopProcess(rec, 300);
  t.equal(await exited, 'SIGKILL');
  t.ok(Date.now() - t0 >= 300, 'waited the grace time first');
});
