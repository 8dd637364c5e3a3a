/**
 * Docker's v1 ("legacy") plugin protocol as vxnet serves it: the wire shapes of the
 * NetworkDriver and IpamDriver interfaces (moby/libnetwork docs/remote.md and
 * docs/ipam.md, drivers/remote/api and ipams/remote/api of the 20.10 branch), the
 * option keys dockerd sends, and the few constants vxnet answers with. Types only
 * and constants: the policy is in docker-driver.ts, the transport in plugin-server.ts.
 *
 * Transport (shared/notes/interop.md part A): dockerd POSTs `/<Interface>.<Method>`
 * with a JSON body and no Content-Type, `Accept: application/vnd.docker.plugins.v1.2+json`.
 * A refusal is HTTP 200 with `{"Err": "..."}` for NetworkDriver (and Plugin) methods
 * and `{"Error": "..."}` for IpamDriver methods (the two APIs differ); an unknown
 * method is 404.
 */

/** The name dockerd finds the plugin by (`-d vxnet`, `--ipam-driver vxnet`): /run/docker/plugins/vxnet.sock. */
export const PLUGIN_NAME = 'vxnet';

/** Content type of every answer (dockerd does not check it; it is what it accepts). */
export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

/** The owner of the agent endpoints the plugin makes (LocalEndpoint.owner): the engine and others leave them alone. */
export const DOCKER_OWNER = 'docker';

/** IpamDriver.GetDefaultAddressSpaces; CreateNetwork's IPv4Data carries one of them when the pool came from vxnet's IPAM. */
export const LOCAL_ADDRESS_SPACE = 'vxnet-local';
export const GLOBAL_ADDRESS_SPACE = 'vxnet-global';

/** Option keys dockerd sends. */
export const OPT = {
  /** CreateNetwork Options: the `-o k=v` of `docker network create`, an object. */
  generic: 'com.docker.network.generic',
  /** In the generic options: the MTU of the network's interfaces. */
  mtu: 'com.docker.network.driver.mtu',
  /** CreateNetwork Options: `--internal`. */
  internal: 'com.docker.network.internal',
  /** RequestPool Data: the gateway the IPAM chose, `A.B.C.D/len`; RequestAddressType of a gateway request. */
  gateway: 'com.docker.network.gateway',
  /** RequestAddress Options key telling what the address is for. */
  requestAddressType: 'RequestAddressType',
  /** CreateEndpoint Options: published ports (`-p`), a list. */
  portMap: 'com.docker.network.portmap',
  /** vxnet's own: the vxnet network to bind to, by name or id (`--ipam-opt` and/or `-o`). */
  network: 'vxnet.network',
} as const;

/** Every method vxnet answers, by interface (the path is `/<Interface>.<Method>`). */
export const METHODS = {
  Plugin: ['Activate'],
  NetworkDriver: [
    'GetCapabilities', 'CreateNetwork', 'DeleteNetwork', 'AllocateNetwork', 'FreeNetwork', 'CreateEndpoint', 'DeleteEndpoint',
    'EndpointOperInfo', 'Join', 'Leave', 'DiscoverNew', 'DiscoverDelete', 'ProgramExternalConnectivity', 'RevokeExternalConnectivity',
  ],
  IpamDriver: ['GetCapabilities', 'GetDefaultAddressSpaces', 'RequestPool', 'ReleasePool', 'RequestAddress', 'ReleaseAddress'],
} as const;

export type PluginInterface = keyof typeof METHODS;

/** The key a refusal is answered under: IPAM's API has `Error`, the others `Err`. */
export function errorKey(iface: PluginInterface): 'Err' | 'Error' {
  return iface === 'IpamDriver' ? 'Error' : 'Err';
}

// ---- IpamDriver --------------------------------------------------------------

export interface RequestPoolRequest {
  AddressSpace: string;
  /** `--subnet`, or "" when dockerd is to choose. */
  Pool: string;
  /** `--ip-range`, or "". */
  SubPool: string;
  /** `--ipam-opt k=v`. */
  Options: Record<string, string>;
  V6: boolean;
}

export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}

export interface RequestAddressRequest {
  PoolID: string;
  /** `--ip`, `--gateway` or an aux address (no prefix length), or "" for any. */
  Address: string;
  Options: Record<string, string>;
}

export interface RequestAddressResponse {
  /** `ip/len`: the length is the interface's prefix length. */
  Address: string;
  Data: Record<string, string>;
}

// ---- NetworkDriver -----------------------------------------------------------

export interface IpamData {
  AddressSpace: string;
  Pool: string;
  /** `ip/len`. */
  Gateway: string;
  AuxAddresses: Record<string, string>;
}

export interface CreateNetworkRequest {
  NetworkID: string;
  Options: Record<string, unknown>;
  IPv4Data: IpamData[];
  IPv6Data: IpamData[];
}

export interface EndpointInterface {
  /** `ip/len` as the IPAM answered. */
  Address: string;
  AddressIPv6: string;
  /** As the user gave it (`--mac-address`), or "". */
  MacAddress: string;
}

export interface CreateEndpointRequest {
  NetworkID: string;
  EndpointID: string;
  Interface: EndpointInterface | null;
  Options: Record<string, unknown>;
}

/** Never echo what dockerd gave (trap D2): a MAC only when the request had none. */
export interface CreateEndpointResponse {
  Interface?: { MacAddress: string };
}

export interface JoinRequest {
  NetworkID: string;
  EndpointID: string;
  /** The sandbox's namespace path: it does not exist yet (trap D3), never touched. */
  SandboxKey: string;
  Options: Record<string, unknown>;
}

export interface StaticRoute {
  Destination: string;
  /** 0: via NextHop; 1: connected. */
  RouteType: 0 | 1;
  NextHop?: string;
}

export interface JoinResponse {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway: string;
  StaticRoutes: StaticRoute[];
  DisableGatewayService: boolean;
}

/** Methods that name a network and an endpoint only (Leave, DeleteEndpoint, EndpointOperInfo, *ExternalConnectivity). */
export interface EndpointRef {
  NetworkID: string;
  EndpointID: string;
}
