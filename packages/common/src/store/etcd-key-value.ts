import type { IKeyValue } from 'etcd3';
import type { KeyValue } from './store.js';

/** etcd3's wire record (Buffers, int64 as decimal strings) to ours. Lease '0' means none. */
export function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
    lease: kv.lease === '0' ? undefined : kv.lease,
  };
}
