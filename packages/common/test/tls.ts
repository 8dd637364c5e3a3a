/**
 * describeTlsError: each way a handshake fails, as Node and gRPC report it, says which
 * certificate is at fault in one line. The shapes are the ones seen for real (test/tls.ts
 * checks them against etcd and the controller).
 */
import t from 'tap';
import { describeTlsError, explainTlsError } from '../src/tls.js';

const err = (message: string, props: Record<string, unknown> = {}) => Object.assign(new Error(message), props);

t.test('our verify errors: the server\'s certificate', async (t) => {
  t.match(describeTlsError(err('unable to verify the first certificate', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })), /server's certificate is not signed by a CA we trust \(unknown CA/);
  t.match(describeTlsError(err('self-signed certificate', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })), /self-signed .*unknown CA/);
  t.match(describeTlsError(err('certificate has expired', { code: 'CERT_HAS_EXPIRED' })), /server's certificate has expired/);
  t.match(describeTlsError(err('14 UNAVAILABLE: No connection established. Last error: Error: certificate has expired. Resolution note: ')), /server's certificate has expired/, 'through gRPC\'s text');
});

t.test('the server\'s alerts: our certificate', async (t) => {
  t.match(describeTlsError(err('C0:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required', { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' })), /requires a client certificate and none was sent/);
  t.match(describeTlsError(err('...:tlsv1 alert unknown ca:...', { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' })), /does not trust our client certificate \(unknown CA/);
  t.match(describeTlsError(err('...:sslv3 alert certificate expired:...', { code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED' })), /our client certificate: it has expired/);
  t.match(describeTlsError(err('...:sslv3 alert bad certificate:...')), /bad certificate/);
  t.match(describeTlsError(err('outer', { cause: err('x', { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' }) })), /unknown CA/, 'found in the cause');
});

t.test('not TLS: undefined, and the message unchanged', async (t) => {
  t.equal(describeTlsError(err('connect ECONNREFUSED 192.0.2.1:2379', { code: 'ECONNREFUSED' })), undefined);
  t.equal(explainTlsError(err('socket hang up')), 'socket hang up');
  t.equal(explainTlsError(err('x', { code: 'CERT_HAS_EXPIRED' })), 'TLS: the server\'s certificate has expired');
});
