/**
 * Whether a process on this host already uses a port: bind it, then close. The one
 * check that sees every listener (any program, any address), as Docker's port
 * allocator does by binding before it maps.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { PortProtocol } from '@vxnet/common/api';

export interface BindTarget {
  ip: string;
  port: number;
  protocol: PortProtocol;
}

/**
 * Binds `t` (exclusively, without SO_REUSEADDR for UDP) and closes it again.
 * Resolves with undefined when the bind succeeded (the port is free), else with the
 * error code (EADDRINUSE, EADDRNOTAVAIL, EACCES…).
 */
export function tryBind(t: BindTarget): Promise<string | undefined> {
  return new Promise((resolve) => {
    const failed = (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message);
    if (t.protocol === 'tcp') {
      const server = net.createServer();
      server.once('error', failed);
      server.listen({ host: t.ip, port: t.port, exclusive: true }, () => server.close(() => resolve(undefined)));
    } else {
      const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      socket.once('error', (err) => {
        socket.close();
        failed(err);
      });
      socket.bind({ address: t.ip, port: t.port, exclusive: true }, () => socket.close(() => resolve(undefined)));
    }
  });
}

/** tryBind for each target, one after the other; results in the same order. */
export async function tryBindAll(targets: BindTarget[]): Promise<Array<string | undefined>> {
  const out: Array<string | undefined> = [];
  for (const t of targets) out.push(await tryBind(t));
  return out;
}
