/**
 * Sign-in of the topology page without the token in a URL: the page posts the token
 * once (`POST /api/login`, JSON body), the controller answers with a session cookie
 * (HttpOnly: scripts cannot read it; Secure: HTTPS only; SameSite=Strict: no other
 * site's page can make the browser send it; Path=/api). EventSource cannot set
 * headers, so a cookie is the only way to authenticate the event stream without
 * putting a secret in a URL (which lands in logs and history).
 *
 * Why a signed value and not a session id kept in memory: controllers are stateless
 * and several may serve one site; a page must stay signed in across a controller
 * restart (the page resumes its event stream by itself) and behind any of them. The
 * cookie is `v1.<expiry seconds>.<HMAC-SHA256(key = token, "vxnet-ui|v1|expiry")>`:
 * every controller holding the site's token can check it, nothing is stored, and
 * rotating the token signs every page out.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'vxnet_session';
/** How long a sign-in lasts, in seconds (a working day). */
export const SESSION_TTL_SECONDS = 12 * 3600;

function mac(token: string, expiry: number): string {
  return createHmac('sha256', token).update(`vxnet-ui|v1|${expiry}`).digest('base64url');
}

/** A session value valid until `nowMs` + ttl. */
export function issueSession(token: string, nowMs = Date.now(), ttlSeconds = SESSION_TTL_SECONDS): string {
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  return `v1.${expiry}.${mac(token, expiry)}`;
}

/** Whether `value` was issued with `token` and has not expired. Never throws. */
export function validSession(token: string, value: string | undefined, nowMs = Date.now()): boolean {
  if (value === undefined) return false;
  const m = /^v1\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!m) return false;
  const expiry = Number(m[1]);
  if (expiry * 1000 <= nowMs) return false;
  const want = Buffer.from(mac(token, expiry));
  const got = Buffer.from(m[2]!);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The Set-Cookie header of a sign-in (`secure` false only on a plaintext listener). */
export function sessionCookie(value: string, secure: boolean, ttlSeconds = SESSION_TTL_SECONDS): string {
  return `${SESSION_COOKIE}=${value}; Path=/api; Max-Age=${ttlSeconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** The Set-Cookie header of a sign-out. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/api; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** The session cookie's value in a Cookie header, if any. */
export function sessionFromCookieHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) return part.slice(i + 1).trim();
  }
  return undefined;
}
