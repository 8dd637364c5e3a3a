export type { DataPlane, EndpointSpec, NetworkPlaneSpec, Peer } from './data-plane.js';
export { NetlinkDataPlane, BRIDGE_NAME, VXLAN_NAME, VXLAN_PORT, type NetlinkDataPlaneOptions } from './netlink-data-plane.js';

