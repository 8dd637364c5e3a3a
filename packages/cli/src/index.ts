/** What tests and tools outside the CLI use of it: the lab's PKI (making CAs and certificates with openssl). */
export { issue, makeCa, type CaFiles, type CertFiles, type IssueOptions } from './lab/pki.js';
