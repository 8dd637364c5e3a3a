/**
 * How the CLI reaches the controller: `--controller URL`, else VXNET_CONTROLLER, else
 * the current lab's controller. URLs are `unix:///path/to/socket`, `https://host:port`
 * or `http://host:port` (a controller started with plaintext).
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

export interface ControllerTarget {
  /** For messages: the URL as given. */
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
  let url = flags.controller ?? (process.env.VXNET_CONTROLLER || undefined);
  if (url === undefined) {
    let lab: string | undefined;
    try {
      lab = resolveLab(flags.lab);
    } catch {
      throw new NoController();
    }
    url = readLabState(lab)?.controller?.url;
    if (url === undefined) throw new NoController();
  }
  if (url.startsWith('unix://')) return { url, socketPath: url.slice('unix://'.length) };
  const m = /^(https?):\/\/([^/:]+):([0-9]{1,5})\/?$/.exec(url);
  if (!m) throw new InvalidArgument(`invalid controller URL "${url}": use unix:///path, https://host:port or http://host:port`);
  const source = tokenSource(flags);
  return {
    url,
    host: m[2] as string,
    port: Number(m[3]),
    ...(source ? { token: readToken(url, source), tokenFrom: `${source.file} (${source.via})` } : {}),
    ...(m[1] === 'https' ? { tls: clientTls(url, flags) } : {}),
  };
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

/**
 * One API call. Resolves with the parsed JSON body on 2xx; throws a VxnetError with the
 * controller's code and message otherwise, or ControllerUnreachable.
 */
export async function call<T>(target: ControllerTarget, method: string, path: string, body?: unknown): Promise<T> {
  try {
    return await callJson<T>(target, method, path, body, {
      timeoutMs: 30_000,
      who: 'the controller',
      unreachable: (err) => new ControllerUnreachable(target.url, explainTlsError(err), err),
    });
  } catch (err) {
    // A refused client certificate often arrives as a reset: the server closes on the
    // request we had already sent. Ask again with a bare handshake, which reads the alert.
    if (err instanceof ControllerUnreachable && target.tls && target.host !== undefined && describeTlsError(err.cause) === undefined) {
      const refused = await probeTls(`https://${target.host}:${target.port}`, target.tls);
      if (refused?.tls) throw new ControllerUnreachable(target.url, `TLS: ${sharpenRefusal(refused.why, target.tls)}`, err);
    }
    // The controller's 401 says only "authentication required"; say how to fix it.
    if (err instanceof VxnetError && err.statusCode === 401) {
      err.message += target.token === undefined
        ? ` by the controller at ${target.url}: pass --token-file FILE or set VXNET_TOKEN_FILE (the controller's token file, /var/lib/vxnet/controller/token by default)`
        : `: the controller at ${target.url} refused the token in ${target.tokenFrom}`;
    }
    throw err;
  }
}
