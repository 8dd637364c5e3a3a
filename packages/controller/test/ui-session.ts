/** The page's signed session cookie (src/ui/session.ts). */
import t from 'tap';
import { issueSession, sessionCookie, sessionFromCookieHeader, validSession } from '../src/ui/session.js';

t.test('a session is valid with its token until it expires, and with no other token', async (t) => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  const s = issueSession('tok-a', now, 60);
  t.ok(validSession('tok-a', s, now + 59_000));
  t.notOk(validSession('tok-a', s, now + 60_000), 'expired');
  t.notOk(validSession('tok-b', s, now), 'another token (rotated) signs every page out');
  t.notOk(validSession('tok-a', s.replace(/\.(\d+)\./, (_m, e: string) => `.${Number(e) + 3600}.`), now), 'a stretched expiry does not verify');
  t.notOk(validSession('tok-a', undefined));
  t.notOk(validSession('tok-a', 'v1.x.y'));
});

t.test('the cookie is HttpOnly, SameSite=Strict, Secure on HTTPS, scoped to /api', async (t) => {
  const c = sessionCookie('v', true);
  for (const part of ['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/api']) t.match(c, part);
  t.notMatch(sessionCookie('v', false), 'Secure');
  t.equal(sessionFromCookieHeader('a=1; vxnet_session=v1.2.3; b=2'), 'v1.2.3');
  t.equal(sessionFromCookieHeader('a=1'), undefined);
});
