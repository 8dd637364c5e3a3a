/**
 * The etcd-backed Store (`@vxnet/common/etcd`), apart from the main entry so that
 * processes that never talk to etcd (the CLI) do not load etcd3 and gRPC (~0.5 s).
 */
export * from './store/etcd-store.js';
