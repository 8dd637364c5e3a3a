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
import { createConnection } from 'node:net';
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

/**
 * The call to the agent; throws CniError 11 (50 for STATUS) when the agent cannot be reached or answers nonsense.
 *
 * HTTP/1.1 written by hand on a node:net socket, one request per connection
 * (`connection: close`, the answer read to EOF), rather than node:http: in a process
 * that makes one request and exits, loading node:http and its first request cost
 * ~13 ms of the executable's ~50 ms start-up on a 2-core machine, a raw socket ~3 ms
 * (bench/results/cni.md). Equivalent to:
 *   curl --unix-socket SOCKET -H 'content-type: application/json' -d BODY http://localhost/v1/cni
 */
function post(socket: string, command: string, request: CniRequest, timeoutMs: number): Promise<CniAnswer> {
  const down = (why: string) =>
    new CniError(
      command === 'STATUS' ? CniCode.NotAvailable : CniCode.TryAgainLater,
      `the vxnet agent on this host is not answering on ${socket} (${why}): start vxnet-agent and retry`,
    );
  const body = Buffer.from(JSON.stringify(request), 'utf8');
  const head = `POST ${CNI_API_PATH} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = createConnection(socket, () => conn.write(Buffer.concat([Buffer.from(head, 'latin1'), body])));
    conn.setTimeout(timeoutMs, () => {
      conn.destroy();
      reject(down(`no answer within ${timeoutMs / 1000} s`));
    });
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(down('the socket does not exist'));
      else if (err.code === 'ECONNREFUSED') reject(down('connection refused'));
      else reject(down(err.code ?? err.message));
    });
    conn.on('end', () => {
      conn.destroy(); // the whole answer is in: nothing more to send or read
      const res = parseResponse(Buffer.concat(chunks));
      if (!res) return reject(down('the connection closed without an HTTP answer'));
      let parsed: unknown;
      try {
        parsed = JSON.parse(res.body);
      } catch {
        return reject(down(`HTTP ${res.status} with a body that is not JSON`));
      }
      const ok = res.status >= 200 && res.status < 300;
      const p = parsed as { error?: { code?: unknown; msg?: unknown } };
      if (!ok && typeof p.error?.code === 'number' && typeof p.error.msg === 'string') return resolve(parsed as CniAnswer);
      if (ok) return resolve(parsed as CniAnswer);
      reject(down(`HTTP ${res.status}: it does not serve CNI (an older agent?)`));
    });
  });
}

/**
 * Status and body of a whole HTTP/1.1 response (the connection closed after it), or
 * undefined when it is not one. The body is as framed by content-length, or chunked,
 * or else runs to the end.
 */
export function parseResponse(raw: Buffer): { status: number; body: string } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!status) return undefined;
  const headers = new Map(lines.slice(1).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as const;
  }));
  let body = raw.subarray(end + 4);
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    const parts: Buffer[] = [];
    for (let at = 0; ;) {
      const eol = body.indexOf('\r\n', at);
      const size = eol < 0 ? NaN : parseInt(body.subarray(at, eol).toString('latin1'), 16);
      if (!Number.isInteger(size) || size < 0) return undefined;
      if (size === 0) break;
      parts.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers.has('content-length')) {
    body = body.subarray(0, Number(headers.get('content-length')));
  }
  return { status: Number(status[1]), body: body.toString('utf8') };
}
