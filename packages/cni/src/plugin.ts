/**
 * The CNI executable's work, as a function of the environment and stdin (so tests can
 * call it without a process): VERSION is answered here; every other command goes to
 * the host's agent (POST /v1/cni on its unix socket), which does the work with the
 * endpoint code the engine and the Docker plugin use. Nothing but the result or the
 * error body is printed on stdout (trap C6); the exit code is 0 or 1.
 *
 * When the agent cannot be reached the answer comes at once (the socket refuses or
 * is missing): code 11, "try again later", naming the agent and its socket (trap C1),
 * or 50 for STATUS. An agent that accepts but does not answer is given up on after
 * the command's timeout.
 */
import { request as httpRequest } from 'node:http';
import {
  CniCode, CniError, DEFAULT_AGENT_SOCKET, answerVersion, parseCall, versionAnswer, type CniCall,
} from './protocol.js';
import { CNI_API_PATH, cniEnv, type CniAnswer, type CniRequest } from './wire.js';

/** How long the agent may take per command, ms (ADD may wait for a subnet lease from the store). */
export const AGENT_TIMEOUT_MS: Record<string, number> = { ADD: 20_000, DEL: 20_000, CHECK: 10_000, GC: 20_000, STATUS: 2_000 };

export interface PluginOutput {
  exitCode: number;
  stdout: string;
}

export async function runPlugin(env: Record<string, string | undefined>, stdin: string): Promise<PluginOutput> {
  const version = answerVersion(stdin);
  let call: CniCall;
  try {
    call = parseCall(env, stdin);
  } catch (err) {
    return failure(err, version);
  }
  if (call.command === 'VERSION') return { exitCode: 0, stdout: `${JSON.stringify(versionAnswer(call.config.cniVersion))}\n` };
  const socket = call.config.agentSocket ?? DEFAULT_AGENT_SOCKET;
  try {
    const answer = await post(socket, call.command, { env: cniEnv(env), stdin }, AGENT_TIMEOUT_MS[call.command] ?? 20_000);
    if ('error' in answer) return { exitCode: 1, stdout: `${JSON.stringify(answer.error)}\n` };
    return { exitCode: 0, stdout: answer.result ? `${JSON.stringify(answer.result)}\n` : '' };
  } catch (err) {
    return failure(err, version);
  }
}

function failure(err: unknown, version: string): PluginOutput {
  const e = err instanceof CniError ? err : new CniError(CniCode.Failed, (err as Error)?.message ?? String(err));
  return { exitCode: 1, stdout: `${JSON.stringify(e.body(version))}\n` };
}

/** The call to the agent; throws CniError 11 (50 for STATUS) when the agent cannot be reached or answers nonsense. */
function post(socket: string, command: string, request: CniRequest, timeoutMs: number): Promise<CniAnswer> {
  const down = (why: string) =>
    new CniError(
      command === 'STATUS' ? CniCode.NotAvailable : CniCode.TryAgainLater,
      `the vxnet agent on this host is not answering on ${socket} (${why}): start vxnet-agent and retry`,
    );
  const body = JSON.stringify(request);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      socketPath: socket, path: CNI_API_PATH, method: 'POST', timeout: timeoutMs,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(down(err.message)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return reject(down(`HTTP ${res.statusCode} with a body that is not JSON`));
        }
        const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
        const p = parsed as { error?: { code?: unknown; msg?: unknown } };
        if (!ok && typeof p.error?.code === 'number' && typeof p.error.msg === 'string') return resolve(parsed as CniAnswer);
        if (ok) return resolve(parsed as CniAnswer);
        reject(down(`HTTP ${res.statusCode}: it does not serve CNI (an older agent?)`));
      });
    });
    req.on('timeout', () => {
      req.destroy();
      reject(down(`no answer within ${timeoutMs / 1000} s`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(down('the socket does not exist'));
      else if (err.code === 'ECONNREFUSED') reject(down('connection refused'));
      else reject(down(err.code ?? err.message));
    });
    req.end(body);
  });
}
