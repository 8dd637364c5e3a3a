import t from 'tap';
import { EtcdStore } from '../../src/store/etcd-store.js';
import { etcdMissing, startTestEtcd } from '../../src/testing/etcd.js';
import { storeConformance } from '../helpers/store-conformance.js';

const missing = etcdMissing();
if (missing !== undefined) {
  t.plan(0, `skipped: ${missing}`);
} else {
  const etcd = await startTestEtcd('vxnet-conformance');
  t.teardown(() => etcd.destroy());
  storeConformance(t, async () => ({
    store: new EtcdStore({ endpoints: [etcd.endpoint] }),
    elapse: (ms) => new Promise((r) => setTimeout(r, ms)),
  }));
}
