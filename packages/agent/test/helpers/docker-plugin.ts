/**
 * The Docker plugin for tests: a DockerDriver over an agent and its server on a unix
 * socket under a temporary directory, and `post`, which calls it exactly as dockerd
 * does (POST, JSON body with Content-Length and no Content-Type, dockerd's Accept).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { silentLogger, type Logger } from '@vxnet/common';

import { DockerDriver, type DockerAgent } from '../../src/docker/docker-driver.js';
import { buildPluginServer, listenPluginSocket } from '../../src/docker/plugin-server.js';

export const DOCKER_ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

export interface PluginAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON (undefined when the body is not JSON). */
  body: Record<string, unknown> | undefined;
  text: string;
}

/**
 * POST `/<path>` on the unix socket as dockerd does. `body` undefined: an empty body
 * (Activate, GetCapabilities); a string: sent as is.
 */
export function post(socket: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<PluginAnswer> {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      socketPath: socket, method: 'POST', path: `/${path}`,
      headers: { Accept: DOCKER_ACCEPT, 'Content-Length': Buffer.byteLength(payload), ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown> | undefined;
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export interface RunningPlugin {
  driver: DockerDriver;
  socket: string;
  /** Stops the server and the driver (state files stay). */
  stop(): Promise<void>;
}

/** Start a driver (docker.json at `stateFile`) and its server on a fresh socket; stopped at teardown. */
export async function startPlugin(t: Test, agent: DockerAgent, stateFile: string, opts: { timeoutMs?: number; sweepMs?: number; removeWaitMs?: number; log?: Logger; host?: string } = {}): Promise<RunningPlugin> {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-docker-'));
  const socket = join(dir, 'plugins', 'vxnet.sock');
  const log = opts.log ?? silentLogger();
  const driver = new DockerDriver({ agent, stateFile, host: opts.host ?? 'h1', log, sweepMs: opts.sweepMs ?? 0, ...(opts.removeWaitMs !== undefined ? { removeWaitMs: opts.removeWaitMs } : {}) });
  driver.load();
  await driver.start();
  const app = buildPluginServer({ driver, host: opts.host ?? 'h1', log, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  const close = await listenPluginSocket(app, socket);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await close();
    await driver.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  t.teardown(stop);
  return { driver, socket, stop };
}

/** A Docker-style id: 64 hex digits from a seed character. */
export const dockerId = (c: string) => c.repeat(64);
