export { BRIDGE_NAME, VXLAN_NAME, VXLAN_PORT, type DataPlane, type EndpointSpec, type NetworkPlaneSpec, type Peer, type VtepSpec } from './data-plane.js';
export { NetlinkDataPlane, type NetlinkDataPlaneOptions } from './netlink-data-plane.js';
