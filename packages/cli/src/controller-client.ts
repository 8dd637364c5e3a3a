/**
 * How the CLI reaches the controller: `--controller URL`, else VXNET_CONTROLLER, else
 * the current lab's controllers. URLs are `unix:///path/to/socket`, `https://host:port`
 * or `http://host:port` (a controller started with plaintext), several of them
 * comma-separated for a site that runs several controllers.
 *
 * Failover (controllers are stateless, so any of them serves any request): the
 * controllers are tried in the order given, all within one request timeout. The next
 * one is tried when a connection could not be made (nothing was sent: safe for every
 * request), or, for a read, when the request was sent and no answer came. A write
 * whose answer never came may have been applied: it is not re-sent blindly; see
 * {@link callWrite} for how a create is made safe to retry. An answer, even an error,
 * is final: a controller that answers "store unavailable" speaks for the store, which
 * every controller shares.
 *
 * Over HTTPS the server's certificate is checked against `--ca-file FILE`, else
 * VXNET_CA_FILE, else the current lab's CA, else the system's CAs; a client
 * certificate (`--cert-file`/`--key-file`, VXNET_CERT_FILE/VXNET_KEY_FILE, else the
 * current lab's `admin` certificate) is presented when the controller asks for one.
 * A refused handshake says which certificate is at fault (common/tls.ts).
 *
 * The unix socket is root-only and needs no token. Over TCP the controller wants
 * `Authorization: Bearer <token>` (unless it runs with --insecure); the token is read
 * from `--token-file FILE`, else VXNET_TOKEN_FILE, else the current lab's controller
 * token file. With none of them, no token is sent, and a 401 says how to give one.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgument, VxnetError, callJson, certificateProblem, describeTlsError, explainTlsError, probeTls, sharpenRefusal } from '@vxnet/common';
import { resolveLab } from './context.js';
import { ControllerUnreachable, NoController, TlsFileUnreadable, TokenUnreadable } from './errors.js';
import { readLabState } from './lab/lab-state.js';

/** The controllers to try, in order, and how to reach each. */
export interface ControllerTarget {
  /** For messages: the URL list as given. */
  url: string;
  endpoints: ControllerEndpoint[];
  /** One request timeout, ms: every controller of the list is tried within it. */
  timeoutMs: number;
}

export interface ControllerEndpoint {
  /** For messages: this controller's URL. */
  url: string;
  socketPath?: string;
  host?: string;
  port?: number;
  token?: string;
  /** For messages: where the token came from, e.g. `/root/t (--token-file)`. */
  tokenFrom?: string;
  /** https:// targets: the CA and client certificate (PEM), as loaded. */
  tls?: { ca?: string; cert?: string; key?: string };
}

/** The global flags that choose the controller (`vxnet --controller URL`, `--lab NAME`, `--token-file FILE`). */
export interface ControllerFlags {
  controller?: string;
  lab?: string;
  tokenFile?: string;
  /** Seconds (`--request-timeout`), else $VXNET_REQUEST_TIMEOUT, else 30. */
  requestTimeout?: string;
  /** CA of the controller's certificate (https://). */
  caFile?: string;
  /** Client certificate and its key, for a controller that asks for one. */
  certFile?: string;
  keyFile?: string;
}

/**
 * Where to send requests, with the token for a TCP controller. Throws NoController,
 * InvalidArgument (a bad URL) or TokenUnreadable (a named token file that is missing,
 * unreadable or empty).
 */
export function resolveController(flags: ControllerFlags): ControllerTarget {
  let list = flags.controller ?? (process.env.VXNET_CONTROLLER || undefined);
  if (list === undefined) {
    let lab: string | undefined;
    try {
      lab = resolveLab(flags.lab);
    } catch {
      throw new NoController();
    }
    const state = readLabState(lab);
    if (state?.controller?.url === undefined) throw new NoController();
    list = [state.controller, ...(state.moreControllers ?? [])].map((c) => c.url).join(',');
  }
  const urls = list.split(',').map((u) => u.trim()).filter((u) => u !== '');
  const usage = 'use unix:///path, https://host:port or http://host:port, comma-separated for several';
  if (urls.length === 0) throw new InvalidArgument(`invalid controller URL "${list}": ${usage}`);
  let source: TokenSource | undefined | null = null; // read once, only when a TCP controller needs it
  const endpoints = urls.map((url): ControllerEndpoint => {
    if (url.startsWith('unix://')) return { url, socketPath: url.slice('unix://'.length) };
    const m = /^(https?):\/\/([^/:]+):([0-9]{1,5})\/?$/.exec(url);
    if (!m) throw new InvalidArgument(`invalid controller URL "${url}": ${usage}`);
    if (source === null) source = tokenSource(flags);
    return {
      url,
      host: m[2] as string,
      port: Number(m[3]),
      ...(source ? { token: readToken(url, source), tokenFrom: `${source.file} (${source.via})` } : {}),
      ...(m[1] === 'https' ? { tls: clientTls(url, flags) } : {}),
    };
  });
  return { url: urls.join(','), endpoints, timeoutMs: requestTimeoutMs(flags) };
}

function requestTimeoutMs(flags: ControllerFlags): number {
  const [text, via] = flags.requestTimeout !== undefined ? [flags.requestTimeout, '--request-timeout'] : [process.env.VXNET_REQUEST_TIMEOUT || undefined, '$VXNET_REQUEST_TIMEOUT'];
  if (text === undefined) return REQUEST_TIMEOUT_MS;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || Number(text) < 1 || Number(text) > 3600) throw new InvalidArgument(`invalid ${via} "${text}": expected seconds, 1-3600`);
  return Math.round(Number(text) * 1000);
}

/**
 * The CA and client certificate for an https:// controller, each from its flag, else
 * its variable, else the current lab. Named files that cannot be read, and an expired
 * client certificate, are refused here with the file's name.
 */
function clientTls(url: string, flags: ControllerFlags): { ca?: string; cert?: string; key?: string } {
  let lab: ReturnType<typeof readLabState>;
  try {
    lab = readLabState(resolveLab(flags.lab));
  } catch {
    lab = undefined; // no lab: only flags and variables name files
  }
  const admin = lab?.pki?.clients.admin;
  const pick = (flag: string, flagValue: string | undefined, envName: string, labFile: string | undefined) => {
    if (flagValue) return { file: flagValue, via: flag };
    if (process.env[envName]) return { file: process.env[envName] as string, via: `$${envName}` };
    return labFile ? { file: labFile, via: `lab "${lab?.name}"` } : undefined;
  };
  const read = (what: string, src: { file: string; via: string } | undefined) => {
    if (src === undefined) return undefined;
    try {
      return readFileSync(src.file, 'utf8');
    } catch (err) {
      throw new TlsFileUnreadable(what, url, src.file, src.via, (err as Error).message, err);
    }
  };
  const certSrc = pick('--cert-file', flags.certFile, 'VXNET_CERT_FILE', admin?.cert);
  const keySrc = pick('--key-file', flags.keyFile, 'VXNET_KEY_FILE', admin?.key);
  if ((certSrc === undefined) !== (keySrc === undefined)) {
    throw new InvalidArgument(`a client certificate needs both --cert-file and --key-file (or VXNET_CERT_FILE and VXNET_KEY_FILE); got only ${certSrc ? 'the certificate' : 'the key'}`);
  }
  const ca = read('the CA', pick('--ca-file', flags.caFile, 'VXNET_CA_FILE', lab?.pki?.ca));
  const cert = read('the client certificate', certSrc);
  const key = read('the client key', keySrc);
  if (cert !== undefined) {
    const why = certificateProblem(`the client certificate ${certSrc?.file} (${certSrc?.via})`, cert);
    if (why !== undefined) throw new InvalidArgument(`could not talk to the controller at ${url}: ${why}`);
  }
  return { ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}) };
}

interface TokenSource {
  file: string;
  /** What named the file: `--token-file`, `$VXNET_TOKEN_FILE`, `lab "l1"`. */
  via: string;
}

function tokenSource(flags: ControllerFlags): TokenSource | undefined {
  if (flags.tokenFile) return { file: flags.tokenFile, via: '--token-file' };
  if (process.env.VXNET_TOKEN_FILE) return { file: process.env.VXNET_TOKEN_FILE, via: '$VXNET_TOKEN_FILE' };
  let lab: string;
  try {
    lab = resolveLab(flags.lab);
  } catch {
    return undefined; // no lab: nothing names a token
  }
  const file = readLabState(lab)?.controller?.tokenFile;
  return file ? { file, via: `lab "${lab}"` } : undefined;
}

function readToken(url: string, source: TokenSource): string {
  let token: string;
  try {
    token = readFileSync(source.file, 'utf8').trim();
  } catch (err) {
    throw new TokenUnreadable(url, source.file, source.via, (err as Error).message, err);
  }
  if (token === '') throw new TokenUnreadable(url, source.file, source.via, 'the file is empty');
  return token;
}

/** The default request timeout, in ms: every controller of the list is tried within it. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** A request that failed without an answer: `sent` when it may have reached the controller. */
class NoAnswer extends Error {
  constructor(readonly endpoint: ControllerEndpoint, readonly sent: boolean, override readonly cause: Error) {
    super(cause.message);
  }
}

/** What {@link callEach} reports of a write that got no answer from some controller. */
export interface Outcome<T> {
  value: T;
  /** A controller that may have applied the write before the one that answered, if any. */
  unknownAt?: string;
}

/**
 * One API call. Resolves with the parsed JSON body on 2xx; throws a VxnetError with the
 * controller's code and message otherwise, or ControllerUnreachable when no controller
 * answered. A GET goes to the next controller after any failure without an answer;
 * other methods only when nothing was sent (use {@link callWrite} to retry those).
 */
export async function call<T>(target: ControllerTarget, method: string, path: string, body?: unknown): Promise<T> {
  return (await callEach<T>(target, method, path, body, method === 'GET')).value;
}

/**
 * A write that can be retried on the next controller even after it was sent and no
 * answer came, because the caller makes the retry safe: `afterUnknown` is called with
 * the error of a retry that followed an unknown outcome (e.g. "name taken" after a
 * create that may have landed) and returns the value to report instead, or undefined
 * to let the error stand. Resolves with the value and, when an earlier try's outcome
 * was unknown, the controller it went to.
 */
export async function callWrite<T>(
  target: ControllerTarget, method: string, path: string, body: unknown, afterUnknown: (err: VxnetError) => Promise<T | undefined>,
): Promise<Outcome<T>> {
  try {
    return await callEach<T>(target, method, path, body, true);
  } catch (err) {
    const unknownAt = (err as { unknownAt?: string }).unknownAt;
    if (!(err instanceof VxnetError) || unknownAt === undefined) throw err;
    const value = await afterUnknown(err);
    if (value === undefined) throw err;
    return { value, unknownAt };
  }
}

async function callEach<T>(target: ControllerTarget, method: string, path: string, body: unknown, retrySent: boolean): Promise<Outcome<T>> {
  const deadline = Date.now() + target.timeoutMs;
  const failures: NoAnswer[] = [];
  let unknownAt: string | undefined;
  for (const [i, ep] of target.endpoints.entries()) {
    // leave each controller still to try an equal share of what is left (a hung one must not eat it all)
    const left = target.endpoints.length - i;
    const timeoutMs = Math.max(500, Math.floor((deadline - Date.now()) / left));
    try {
      const value = await callOne<T>(ep, method, path, body, timeoutMs);
      return unknownAt === undefined ? { value } : { value, unknownAt };
    } catch (err) {
      if (err instanceof VxnetError && unknownAt !== undefined) Object.assign(err, { unknownAt });
      if (!(err instanceof NoAnswer)) throw err;
      failures.push(err);
      if (err.sent && method !== 'GET') {
        if (!retrySent) throw unreachable(target, failures, method);
        unknownAt ??= ep.url;
      }
    }
  }
  throw unreachable(target, failures, method);
}

function unreachable(target: ControllerTarget, failures: NoAnswer[], method: string): Error {
  const what = failures.map((f) => (target.endpoints.length > 1 ? `${f.endpoint.url}: ${f.cause.message}` : f.cause.message)).join('; ');
  const maybe = failures.some((f) => f.sent) && method !== 'GET'
    ? ' (the request was sent and no answer came: it may or may not have been applied; check before retrying)'
    : '';
  const last = failures.at(-1);
  return new ControllerUnreachable(target.url, `${what}${maybe}`, last?.cause);
}

async function callOne<T>(ep: ControllerEndpoint, method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
  try {
    return await callJson<T>(ep, method, path, body, {
      timeoutMs,
      who: `the controller at ${ep.url}`,
      unreachable: (err, how) => new NoAnswer(ep, how?.sent ?? true, new Error(explainTlsError(err), { cause: err })),
    });
  } catch (err) {
    // A refused client certificate often arrives as a reset: the server closes on the
    // request we had already sent. Ask again with a bare handshake, which reads the alert.
    if (err instanceof NoAnswer && ep.tls && ep.host !== undefined && describeTlsError(err.cause.cause) === undefined) {
      const refused = await probeTls(`https://${ep.host}:${ep.port}`, ep.tls);
      if (refused?.tls) throw new NoAnswer(ep, err.sent, new Error(`TLS: ${sharpenRefusal(refused.why, ep.tls)}`, { cause: err.cause }));
    }
    // The controller's 401 says only "authentication required"; say how to fix it.
    if (err instanceof VxnetError && err.statusCode === 401) {
      err.message += ep.token === undefined
        ? ` by the controller at ${ep.url}: pass --token-file FILE or set VXNET_TOKEN_FILE (the controller's token file, /var/lib/vxnet/controller/token by default)`
        : `: the controller at ${ep.url} refused the token in ${ep.tokenFrom}`;
    }
    throw err;
  }
}
