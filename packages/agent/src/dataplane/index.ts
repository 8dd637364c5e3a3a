export {
  BRIDGE_NAME, UPLINK_HOST_IP, UPLINK_NAME, UPLINK_NETNS_IP, UPLINK_PREFIX, VXLAN_NAME, VXLAN_PORT,
  type DataPlane, type EndpointSpec, type HandoffEndpointSpec, type HostAddress, type NetworkPlaneSpec, type Peer, type SandboxInterface, type UplinkSpec, type VtepSpec,
} from './data-plane.js';
export { NetlinkDataPlane, type NetlinkDataPlaneOptions } from './netlink-data-plane.js';
