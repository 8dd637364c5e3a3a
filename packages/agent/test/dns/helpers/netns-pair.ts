/**
 * Two namespaces for the DNS tests: a "network" namespace with br0 holding the
 * gateway (10.77.0.1/24 by default), like the agent's, and a "client" namespace
 * with eth0 (10.77.0.2/24) on a veth whose other end is on br0. Nothing is created
 * in the test process's own namespace.
 */
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deleteNetns, ensureNetns } from '@vxnet/netns';

export interface NetnsPair {
  server: string;
  client: string;
  gateway: string;
  clientIp: string;
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePair(prefix: string, subnet = '10.77.0'): NetnsPair {
  const server = `${prefix}-s`;
  const client = `${prefix}-c`;
  const gateway = `${subnet}.1`;
  const clientIp = `${subnet}.2`;
  ensureNetns(server);
  ensureNetns(client);
  ip('-n', server, 'link', 'set', 'lo', 'up');
  ip('-n', client, 'link', 'set', 'lo', 'up');
  ip('-n', server, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', server, 'addr', 'add', `${gateway}/24`, 'dev', 'br0');
  ip('-n', server, 'link', 'set', 'br0', 'up');
  ip('-n', server, 'link', 'add', 'vc0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client);
  ip('-n', server, 'link', 'set', 'vc0', 'master', 'br0', 'up');
  ip('-n', client, 'addr', 'add', `${clientIp}/24`, 'dev', 'eth0');
  ip('-n', client, 'link', 'set', 'eth0', 'up');
  return {
    server, client, gateway, clientIp,
    remove() {
      deleteNetns(client);
      deleteNetns(server);
    },
  };
}

export const DNS_CLIENT = fileURLToPath(new URL('./dns-client.js', import.meta.url));

/** The client needs none of the test runner's loaders (NODE_OPTIONS), which only slow its start. */
export const CLIENT_ENV = { ...process.env, NODE_OPTIONS: '' };

export interface ClientResult { name: string; rcode: string; tc: boolean; answers: string[]; ms: number; error?: string }
export interface ClientQuery { name: string; type?: string; tcp?: boolean; edns?: number; delayMs?: number }

/** Runs the test DNS client inside `netns` and returns its results. */
export function query(netns: string, server: string, queries: ClientQuery[], timeoutMs = 3000): Promise<ClientResult[]> {
  return new Promise((resolve, reject) => {
    execFile('nsenter', [`--net=/run/netns/${netns}`, process.execPath, DNS_CLIENT, JSON.stringify({ mode: 'batch', server, timeoutMs, queries })],
      { encoding: 'utf8', timeout: timeoutMs + 10_000, env: CLIENT_ENV }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`dns-client failed: ${err.message} ${stderr}`));
        resolve(JSON.parse(stdout) as ClientResult[]);
      });
  });
}
