/**
 * The agent's nftables table, `ip vxnet`, as text: desired state in, one `nft -f -`
 * transaction out. Pure (no processes, no kernel), so every rule is tested directly.
 *
 * Design notes (shared/notes/ops-features.md §3; flannel's `--ip-masq`, kube-proxy's
 * knftables):
 * - One table, owned whole. The transaction is `table ip vxnet {}` (create if
 *   absent), `delete table ip vxnet`, then the full table: the kernel applies it as
 *   one transaction, so a bad rule changes nothing, and whatever was in the table
 *   before (an old agent's rules, an operator's edit) is gone afterwards. Other
 *   tables (iptables-nft's `ip nat`/`ip filter`, anyone's) are never named.
 * - Sets carry the per-network membership, so the rules are the same for 1 network
 *   or 100: `uplinks` (host ends of the uplink veths of non-internal networks),
 *   `networks` (their CIDRs), `internal_nets` (CIDRs of internal networks here).
 * - Forward (filter): internal networks are dropped both ways (a second guard: they
 *   have no uplink at all). Towards an uplink only replies (`ct state
 *   established,related`) and published ports (`ct status dnat`) pass; the rest,
 *   including uplink -> uplink (one network into another), is dropped. Published
 *   ports are public: a container of another network reaches them through the host
 *   address, as with Docker.
 * - NAT: traffic of the networks leaving by any non-uplink interface is masqueraded
 *   (`fully-random`, as flannel: no port-allocation collisions between hosts
 *   behind one NAT). Hairpin: DNAT'd traffic of the networks going back out an
 *   uplink is masqueraded too, so a container reaching a published port on its own
 *   host gets the reply through conntrack instead of straight from the target.
 * - DNAT per published port in prerouting (from outside and from containers) and
 *   output (the host's own connections to its addresses). Host address 0.0.0.0
 *   means every local address (`fib daddr type local`; loopback excluded in output,
 *   which would need route_localnet).
 *
 * - Input (filter), only while encrypted networks are joined: VXLAN (UDP 4789) with
 *   an encrypted network's VNI that did not come out of the WireGuard device is
 *   dropped. The kernel's VXLAN socket listens on every address and demultiplexes by
 *   VNI alone, so without it anyone on the underlay could inject plaintext frames
 *   into an encrypted network (Docker guards its encrypted VNIs the same way, with
 *   an iptables u32 match). The VNI is the 24 bits at byte 12 of the UDP header
 *   (8 bytes UDP, then VXLAN flags and VNI).
 *
 * Every interpolated value is checked here before it is written: interface names
 * against the generated pattern, addresses and CIDRs parsed, ports integers 1-65535,
 * protocols from a closed list, comments hex. Nothing user-typed reaches the text
 * unparsed.
 */
import { formatIpv4, parseCidr, parseIpv4 } from '@vxnet/common';
import type { PortProtocol } from '@vxnet/common/api';

export const TABLE_FAMILY = 'ip';
export const TABLE_NAME = 'vxnet';

/** Host ends of uplinks: `vxu-` + 11 hex (network id prefix), 15 characters. */
export const UPLINK_IFNAME = /^vxu-[0-9a-f]{11}$/;

/** A published port as the firewall needs it. */
export interface DnatRule {
  /** Host address to match, or 0.0.0.0 for every local address. */
  hostIp: string;
  hostPort: number;
  protocol: PortProtocol;
  containerIp: string;
  containerPort: number;
  /** Endpoint id (hex); its first 12 characters go into the rule's comment. */
  endpointId: string;
}

/** Everything the table holds, from the agent's state. */
export interface FirewallState {
  /** Uplink host-end names (non-internal networks on this host). */
  uplinks: string[];
  /** CIDRs of the non-internal networks on this host. */
  networks: string[];
  /** CIDRs of the internal networks on this host. */
  internalNetworks: string[];
  ports: DnatRule[];
  /** VNIs of the encrypted networks on this host; absent or empty: no input chain. */
  encryptedVnis?: number[];
  /** The WireGuard device their VXLAN must come from (required with encryptedVnis). */
  wireguardDevice?: string;
}

export const EMPTY_STATE: FirewallState = Object.freeze({ uplinks: [], networks: [], internalNetworks: [], ports: [] });

const PROTOCOLS: readonly string[] = ['tcp', 'udp'];

function checkPort(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new TypeError(`invalid ${what} ${n}: expected an integer 1-65535`);
  return n;
}

function checkIp(text: string, what: string): string {
  const n = parseIpv4(text);
  if (n === undefined) throw new TypeError(`invalid ${what} "${text}": expected an IPv4 address`);
  return formatIpv4(n);
}

function checkCidr(text: string, what: string): string {
  try {
    return parseCidr(text, what).text;
  } catch (err) {
    throw new TypeError((err as Error).message);
  }
}

function sortedUnique(values: string[]): string[] {
  return [...new Set(values)].sort();
}

/** `elements = { … }` line, or nothing for an empty set (nft refuses `{ }`). */
function elements(items: string[]): string[] {
  return items.length ? [`\t\telements = { ${items.join(', ')} }`] : [];
}

/** The match part of one port's DNAT rule in `chain`. */
function portMatch(p: DnatRule, chain: 'prerouting' | 'output'): string {
  if (p.hostIp !== '0.0.0.0') return `ip daddr ${p.hostIp} ${p.protocol} dport ${p.hostPort}`;
  const local = `fib daddr type local ${p.protocol} dport ${p.hostPort}`;
  return chain === 'output' ? `ip daddr != 127.0.0.0/8 ${local}` : local;
}

/**
 * The table's body (`table ip vxnet { … }`), deterministic for a given state (sets
 * sorted, ports sorted by host address, port, protocol). Throws TypeError naming the
 * first invalid value.
 */
export function renderTable(state: FirewallState): string {
  const uplinks = sortedUnique(state.uplinks);
  for (const u of uplinks) if (!UPLINK_IFNAME.test(u)) throw new TypeError(`invalid uplink interface name "${u}"`);
  const cidrs = (list: string[], what: string) => sortedUnique(list.map((c) => checkCidr(c, what)));
  const networks = cidrs(state.networks, 'network CIDR');
  const internal = cidrs(state.internalNetworks, 'internal network CIDR');
  const ports = state.ports
    .map((p) => {
      if (!PROTOCOLS.includes(p.protocol)) throw new TypeError(`invalid protocol "${String(p.protocol)}": expected tcp or udp`);
      if (!/^[0-9a-f]{12,64}$/.test(p.endpointId)) throw new TypeError(`invalid endpoint id "${p.endpointId}"`);
      return {
        ...p,
        hostIp: checkIp(p.hostIp, 'host address'),
        hostPort: checkPort(p.hostPort, 'host port'),
        containerIp: checkIp(p.containerIp, 'container address'),
        containerPort: checkPort(p.containerPort, 'container port'),
      };
    })
    .sort((a, b) => (parseIpv4(a.hostIp) ?? 0) - (parseIpv4(b.hostIp) ?? 0) || a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol));

  const vnis = [...new Set(state.encryptedVnis ?? [])].sort((a, b) => a - b);
  for (const v of vnis) if (!Number.isInteger(v) || v < 1 || v > 0xffffff) throw new TypeError(`invalid VNI ${v}`);
  const wg = state.wireguardDevice ?? '';
  if (vnis.length > 0 && !/^[A-Za-z0-9_.-]{1,15}$/.test(wg)) throw new TypeError(`invalid WireGuard device name "${wg}"`);
  const input = vnis.length === 0 ? [] : [
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy accept;',
    `\t\tiifname != "${wg}" udp dport 4789 @th,96,24 { ${vnis.join(', ')} } counter drop comment "plaintext VXLAN of encrypted networks"`,
    '\t}',
  ];

  const dnat = (chain: 'prerouting' | 'output') =>
    ports.map((p) => `\t\t${portMatch(p, chain)} dnat to ${p.containerIp}:${p.containerPort} comment "endpoint ${p.endpointId.slice(0, 12)}"`);

  return [
    `table ${TABLE_FAMILY} ${TABLE_NAME} {`,
    '\tset uplinks {',
    '\t\ttype ifname',
    ...elements(uplinks.map((u) => `"${u}"`)),
    '\t}',
    '\tset networks {',
    '\t\ttype ipv4_addr',
    '\t\tflags interval',
    '\t\tauto-merge',
    ...elements(networks),
    '\t}',
    '\tset internal_nets {',
    '\t\ttype ipv4_addr',
    '\t\tflags interval',
    '\t\tauto-merge',
    ...elements(internal),
    '\t}',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy accept;',
    '\t\tip saddr @internal_nets drop',
    '\t\tip daddr @internal_nets drop',
    '\t\toifname @uplinks ct state established,related accept',
    '\t\toifname @uplinks ct status dnat accept',
    '\t\tiifname @uplinks oifname @uplinks drop',
    '\t\toifname @uplinks drop',
    '\t}',
    ...input,
    '\tchain prerouting {',
    '\t\ttype nat hook prerouting priority dstnat; policy accept;',
    ...dnat('prerouting'),
    '\t}',
    // nft 1.0.6 accepts the name dstnat only in prerouting; -100 is its value
    '\tchain output {',
    '\t\ttype nat hook output priority -100; policy accept;',
    ...dnat('output'),
    '\t}',
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    '\t\tip saddr @networks oifname != @uplinks masquerade fully-random',
    '\t\tip saddr @networks oifname @uplinks ct status dnat masquerade fully-random',
    '\t}',
    '}',
    '',
  ].join('\n');
}

/**
 * The whole `nft -f -` input: create the table if absent (so the delete cannot
 * fail), delete it, then build it again, in one transaction.
 */
export function renderTransaction(state: FirewallState): string {
  return `table ${TABLE_FAMILY} ${TABLE_NAME} {}\ndelete table ${TABLE_FAMILY} ${TABLE_NAME}\n${renderTable(state)}`;
}
