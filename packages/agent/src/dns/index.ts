export { DnsResolver, ROTATION_BUCKETS, reply, udpLimit, canonicalName, ptrToIp, UDP_PLAIN_LIMIT, UDP_EDNS_LIMIT, type DnsSnapshot, type DnsClient, type Resolution, type Transport } from './resolver.js';
export { DnsWorker, defaultDnsThreads, type DnsWorkerOptions } from './dns-server.js';
export { DnsService, snapshotOf, type AgentDns, type DnsServiceOptions } from './dns-service.js';
export { Forwarder, type ForwarderOptions } from './forwarder.js';
export { parseUpstream, upstreamsFromResolvConf, formatUpstream, type Upstream } from './upstreams.js';
