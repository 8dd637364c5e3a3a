/**
 * TLS, shared by every vxnet client and server: reading the PEM files a setting names,
 * checking a certificate's dates before using it, and saying in one line what went
 * wrong when a handshake fails.
 *
 * Why a mapping: Node reports a failed handshake as an OpenSSL code
 * (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`, …)
 * and gRPC (etcd's client) folds it into "14 UNAVAILABLE: No connection established.
 * Last error: …". Neither tells an operator which file to fix. The three cases the
 * operator can act on are told apart:
 *
 *   - no client certificate: the server asked for one (etcd --client-cert-auth, the
 *     controller with tlsClientCa) and none was configured;
 *   - unknown CA: our CA file did not sign the server's certificate, or the server's
 *     CA did not sign ours;
 *   - expired: the server's certificate, or ours.
 *
 * Which side's certificate is at fault follows from who detected it: a verify error
 * (a `code` such as CERT_HAS_EXPIRED) is ours about the server's certificate; an alert
 * (`… alert …`) is the server's about ours. OpenSSL sends `certificate required` (TLS
 * 1.3) for a missing certificate, `unknown ca` and `certificate expired` for the
 * others; Go's crypto/tls (etcd) sends the same three since Go 1.18, and `bad
 * certificate` before that (and for anything else).
 */
import type { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// node:tls and node:crypto load on first use: every CLI command imports this module and
// most never speak TLS (a unix socket), and loading them costs about 5 ms of start-up.
const requireBuiltin = createRequire(import.meta.url);
const crypto = () => requireBuiltin('node:crypto') as typeof import('node:crypto');
const tlsModule = () => requireBuiltin('node:tls') as typeof import('node:tls');

/** Verify errors of our side: the server's certificate. */
const SERVER_CERT: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server\'s certificate is not signed by a CA we trust (unknown CA: check the CA file)',
  UNABLE_TO_GET_ISSUER_CERT: 'the server\'s certificate is not signed by a CA we trust (unknown CA: check the CA file)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server\'s certificate is not signed by a CA we trust (unknown CA: check the CA file)',
  SELF_SIGNED_CERT_IN_CHAIN: 'the server\'s certificate is not signed by a CA we trust (unknown CA: check the CA file)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server\'s certificate is self-signed and not our CA (unknown CA: check the CA file)',
  CERT_SIGNATURE_FAILURE: 'the server\'s certificate is not signed by a CA we trust (unknown CA: check the CA file)',
  CERT_HAS_EXPIRED: 'the server\'s certificate has expired',
  CERT_NOT_YET_VALID: 'the server\'s certificate is not valid yet (check the clocks)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server\'s certificate does not name the address we connected to',
};

/** Alerts the server sent: our certificate (matched against the message, lower case). */
const ALERTS: Array<[RegExp, string]> = [
  [/certificate required|peer did not return a certificate|didn't provide a certificate/, 'the server requires a client certificate and none was sent (no client certificate configured)'],
  [/alert unknown ca|unknown authority/, 'the server does not trust our client certificate (unknown CA: it was signed by another CA)'],
  [/alert certificate expired/, 'the server refused our client certificate: it has expired'],
  [/alert bad certificate/, 'the server refused our client certificate (bad certificate: expired, or signed by a CA it does not trust)'],
  [/alert handshake failure/, 'the server refused the TLS handshake (handshake failure)'],
  [/wrong version number|packet length too long|http_request|first record does not look like a tls handshake/, 'the server does not speak TLS there (a plain-text port?)'],
];

/**
 * What went wrong with TLS, in one line, or undefined when `err` is not a TLS failure.
 * Looks through `cause` chains and gRPC's "Last error:" text.
 */
export function describeTlsError(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && Object.hasOwn(SERVER_CERT, code)) return SERVER_CERT[code];
    const text = `${String((e as { message?: unknown }).message ?? '')} ${String((e as { reason?: unknown }).reason ?? '')} ${typeof code === 'string' ? code : ''}`.toLowerCase();
    for (const [code2, why] of Object.entries(SERVER_CERT)) if (text.includes(code2.toLowerCase()) || text.includes(code2.toLowerCase().replace(/_/g, ' '))) return why;
    if (text.includes('certificate has expired')) return SERVER_CERT.CERT_HAS_EXPIRED;
    if (text.includes('unable to verify the first certificate') || text.includes('self-signed certificate') || text.includes('self signed certificate')) return SERVER_CERT.UNABLE_TO_VERIFY_LEAF_SIGNATURE;
    for (const [re, why] of ALERTS) if (re.test(text.replace(/_/g, ' '))) return why;
  }
  return undefined;
}

/** The message of `err` with the TLS explanation first when there is one. */
export function explainTlsError(err: Error): string {
  const why = describeTlsError(err);
  return why === undefined ? err.message : `TLS: ${why}`;
}

const BAD_CERTIFICATE = ALERTS.find(([re]) => re.source === 'alert bad certificate')?.[1] as string;

/**
 * Sharpen a server's `bad certificate` with what we know about our own side. Go's
 * crypto/tls before 1.21 (etcd 3.4 on Debian 12) answers every refused client
 * certificate, and a missing one, with that alert; but if we sent none, it was
 * "none", and if ours is not signed by the CA we trust for the server (one CA for a
 * site, as docs/deploy.md and the lab make it), it is most likely of another CA.
 */
export function sharpenRefusal(why: string, tls: { ca?: string; cert?: string }): string {
  if (why !== BAD_CERTIFICATE) return why;
  if (tls.cert === undefined) return 'the server requires a client certificate and none was sent (no client certificate configured)';
  if (tls.ca !== undefined && !issuedBy(tls.cert, tls.ca)) {
    return 'the server does not trust our client certificate (unknown CA: it is not signed by the CA we trust for the server, so most likely by another CA than the server\'s)';
  }
  return why;
}

/** Whether PEM certificate `cert` was signed by (the first certificate of) PEM `ca`. */
export function issuedBy(cert: string, ca: string): boolean {
  try {
    const c = new (crypto().X509Certificate)(cert);
    const issuer = new (crypto().X509Certificate)(ca);
    return c.checkIssued(issuer) && c.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Why the certificate in PEM `pem` cannot be used now (expired, not yet valid, not a
 * certificate), or undefined. `what` names it for the message ("storeCert /etc/…").
 */
export function certificateProblem(what: string, pem: string, now = new Date()): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new (crypto().X509Certificate)(pem);
  } catch (err) {
    return `${what} is not a PEM certificate: ${(err as Error).message}`;
  }
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now > to) return `${what} has expired (valid until ${to.toISOString()}): renew it`;
  if (now < from) return `${what} is not valid yet (valid from ${from.toISOString()}): check the clock`;
  return undefined;
}

/** Read a PEM file a setting names; `onError` makes the error (the caller's catalogue). */
export function readPem(path: string, onError: (why: string, err: Error) => Error): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw onError(`cannot be read: ${(err as Error).message}`, err as Error);
  }
}

/** What {@link probeTls} found: a TLS refusal (`tls`, one line from describeTlsError), or another failure. */
export interface TlsProbeFailure {
  tls: boolean;
  why: string;
}

/**
 * Why a TLS connection to `url` (https://host:port) with these PEMs fails, or
 * undefined when the handshake succeeds and the server keeps the connection. For start
 * errors: gRPC reports a refused client certificate as a dropped connection at best, so
 * a daemon asks the server directly before its first call. In TLS 1.3 the server judges
 * the client's certificate after the client has finished its part, so the alert comes
 * after `secureConnect`: wait `graceMs` for it.
 */
export function probeTls(url: string, tls: { ca?: string; cert?: string; key?: string }, opts: { timeoutMs?: number; graceMs?: number } = {}): Promise<TlsProbeFailure | undefined> {
  const u = new URL(url);
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise((resolve) => {
    let done = false;
    const finish = (failure: TlsProbeFailure | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(failure);
    };
    const socket = tlsModule().connect({ host: u.hostname, port: Number(u.port || 443), ...tls, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: true });
    const timer = setTimeout(() => finish({ tls: false, why: `no TLS handshake within ${timeoutMs} ms` }), timeoutMs);
    socket.on('secureConnect', () => {
      socket.resume(); // read, so that an alert sent after the handshake surfaces as 'error'
      setTimeout(() => finish(undefined), opts.graceMs ?? 300);
    });
    // A TLS 1.3 server sends its session tickets once it has accepted our certificate
    // (Go's crypto/tls and OpenSSL alike): no need to wait out the grace period.
    socket.on('session', () => finish(undefined));
    socket.on('error', (err) => {
      const why = describeTlsError(err);
      finish(why === undefined ? { tls: false, why: err.message } : { tls: true, why });
    });
  });
}
