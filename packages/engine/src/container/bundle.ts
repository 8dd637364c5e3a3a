/**
 * A container's bundle in its state directory: the /etc files bind-mounted into it
 * (hosts, resolv.conf, hostname; contents from sandbox/etc-files.ts) and the OCI
 * config.json, all derived from its record.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { buildSpec } from '../runtime/oci-spec.js';
import { hostnameFile, hostsFile, readHostResolvConf, resolvConf, rewriteInPlace, type HostsEntry } from '../sandbox/etc-files.js';
import { containerFiles, type ContainerRecord } from '../state/container-record.js';

/**
 * Write the /etc files and config.json of `rec` (before each start). `netTarget`: the
 * container whose network a --net container:C container joins.
 */
export function writeBundle(stateDir: string, rec: ContainerRecord, netTarget: ContainerRecord | undefined): void {
  const files = containerFiles(stateDir, rec.id);
  if (rec.networkMode === 'container' && netTarget) {
    // share the joined container's view of the network, as Docker does
    const t = containerFiles(stateDir, netTarget.id);
    writeFileSync(files.hosts, readFileSync(t.hosts));
    writeFileSync(files.resolvConf, readFileSync(t.resolvConf));
  } else if (rec.networkMode === 'host') {
    writeFileSync(files.hosts, readFileOr('/etc/hosts') || hostsFile([]));
    writeFileSync(files.resolvConf, resolvConf({ hostResolvConf: readHostResolvConf() }));
  } else {
    writeFileSync(files.hosts, hostsFile(hostsEntries(rec)));
    writeFileSync(files.resolvConf, resolvConf(rec.endpoints[0] ? { nameserver: rec.endpoints[0].gateway } : {}));
  }
  writeFileSync(files.hostname, hostnameFile(rec.hostname));
  const spec = buildSpec({
    id: rec.id, rootfs: rec.rootfs, args: rec.command, env: rec.env, hostname: rec.hostname, netnsPath: rec.netnsPath, terminal: rec.tty === true,
    ...(rec.imageId !== undefined ? { writableRoot: true } : {}),
    ...(rec.workdir !== undefined ? { cwd: rec.workdir } : {}), ...(rec.user ? { user: rec.user } : {}),
    etcFiles: { hosts: files.hosts, resolvConf: files.resolvConf, hostname: files.hostname },
  });
  writeFileSync(files.config, JSON.stringify(spec, null, 2));
}

/** /etc/hosts and resolv.conf after a connect/disconnect, rewritten in place (they are bind-mounted). */
export function rewriteNetworkFiles(stateDir: string, rec: ContainerRecord): void {
  const files = containerFiles(stateDir, rec.id);
  rewriteInPlace(files.hosts, hostsFile(hostsEntries(rec)));
  rewriteInPlace(files.resolvConf, resolvConf(rec.endpoints[0] ? { nameserver: rec.endpoints[0].gateway } : {}));
}

function hostsEntries(rec: ContainerRecord): HostsEntry[] {
  return rec.endpoints.map((e) => ({ ip: e.ip, names: [rec.hostname, rec.name, ...e.aliases] }));
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
