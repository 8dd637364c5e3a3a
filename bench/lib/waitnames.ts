/**
 * A watcher for "when do all of NAME… answer from here", run inside a container's
 * network namespace (nsenter --net=/proc/PID/ns/net node waitnames.js SERVER TIMEOUT_MS NAME…):
 * the many-names form of waitname.ts, for "20 containers over 3 hosts → all answer
 * ping from h2" (shared/anchors/docker run.sh m_f polls `nslookup` and `ping -c1 -W1`
 * through `docker exec`; this polls without a CLI in the loop, the same for both sides).
 *
 *   1. every 10 ms, an A query to SERVER:53 for each name that has no address yet,
 *      fire and forget;
 *   2. as soon as a name has an address, `ping -D -n -c1 -i 0.005 -w SECONDS IP`: an
 *      echo every 5 ms until the first reply, whose wall-clock time ping prints (-D).
 *
 * Prints "ready" once the first queries are out, then one JSON line
 * {"resolvedMs": epoch ms of the last name to resolve, "reachableMs": epoch ms of the
 * last first reply} or {"error": "…", "missing": [names]}, on the caller's Date.now() clock.
 */
import { createSocket } from 'node:dgram';
import { firstAddress, firstReply, query } from './waitname.js';

const EVERY_MS = 10;

async function main(server: string, timeoutMs: number, names: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const sock = createSocket('udp4');
  const asked = new Map<number, string>(); // query id → name (ids wrap at 65536: old ones are overwritten)
  const resolved = new Map<string, number>();
  const reachable = new Map<string, number>();
  const pings: Array<Promise<void>> = [];
  let id = 0;
  sock.on('message', (m) => {
    const name = asked.get(m.readUInt16BE(0));
    const ip = firstAddress(m);
    if (name === undefined || ip === undefined || resolved.has(name)) return;
    resolved.set(name, Date.now());
    const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    pings.push(firstReply(ip, seconds).then((at) => void reachable.set(name, at), () => undefined));
  });
  const send = () => {
    for (const name of names) {
      if (resolved.has(name)) continue;
      id = (id + 1) & 0xffff;
      asked.set(id, name);
      sock.send(query(name, id), 53, server);
    }
  };
  send();
  process.stdout.write('ready\n');
  while (resolved.size < names.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, EVERY_MS));
    send();
  }
  sock.close();
  await Promise.all(pings);
  const missing = names.filter((n) => !reachable.has(n));
  if (missing.length > 0) {
    const unresolved = missing.filter((n) => !resolved.has(n));
    process.stdout.write(`${JSON.stringify({ error: `${missing.length} of ${names.length} names did not answer within ${timeoutMs} ms (${unresolved.length} of them never resolved)`, missing, unresolved })}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ resolvedMs: Math.max(...resolved.values()), reachableMs: Math.max(...reachable.values()) })}\n`);
}

const [server, timeout, ...names] = process.argv.slice(2);
if (!server || names.length === 0) {
  process.stderr.write('usage: waitnames SERVER TIMEOUT_MS NAME...\n');
  process.exit(2);
}
main(server, Number(timeout ?? 60_000), names).then(() => process.exit(0), (err: Error) => {
  process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
  process.exit(1);
});
