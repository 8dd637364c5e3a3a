/** Messages between the DNS worker (dns-worker.ts) and its owner on the main thread (dns-server.ts). */
import type { DnsSnapshot, Transport } from './resolver.js';

/** workerData of a DNS worker thread. */
export interface WorkerConfig {
  port: number;
  /** This thread's index, 0 … threads − 1; thread 0 also serves TCP. */
  index: number;
  /** DNS threads in all (each with a UDP socket on every address; one SO_REUSEPORT group when > 1). */
  threads: number;
  /** ROTATION_BUCKETS Uint32s: the round-robin counters all threads share. */
  rotation: SharedArrayBuffer;
  /** TTL of internal answers, seconds. */
  ttl: number;
  /** Forwarded queries waiting for the main thread at most; beyond, SERVFAIL. */
  maxForwards: number;
}

/** Queries answered: by the worker from its records (internal) or with an upstream's reply (forwarded). */
export interface QueryCount {
  kind: 'internal' | 'forwarded';
  /** NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, or OTHER (bounded: a label value). */
  rcode: string;
  count: number;
}

export type ToWorker =
  | { type: 'snapshot'; version: number; snapshot: DnsSnapshot }
  /** Start serving a network: enter `netnsPath`, bind UDP and TCP on each of `addresses`, come back. */
  | { type: 'serve'; networkId: string; netnsPath: string; addresses: string[] }
  | { type: 'unserve'; networkId: string }
  /** Reply to a forwarded query; null: no upstream answered (the worker answers SERVFAIL). */
  | { type: 'reply'; id: number; reply: Uint8Array | null }
  /** Ask for the query counts (answered with a 'stats' of the same id). */
  | { type: 'stats'; id: number }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'serving'; networkId: string }
  | { type: 'failed'; networkId: string | undefined; message: string; code: string | undefined }
  | { type: 'unserved'; networkId: string }
  | { type: 'applied'; version: number }
  | { type: 'forward'; id: number; query: Uint8Array; transport: Transport }
  /** Queries answered since the worker started, by who answered and rcode name (monotonic). */
  | { type: 'stats'; id: number; queries: QueryCount[] }
  | { type: 'closed' };
