/** Error catalogue of the agent. */
import { defineError } from '@vxnet/common';

export const SubnetExhausted = defineError('VXNET_SUBNET_EXHAUSTED', 409, 'could not lease a subnet of network "%s" for host %s: subnet exhausted (all %s /%s subnets of %s are leased)');
export const LeaseContention = defineError('VXNET_LEASE_CONTENTION', 503, 'could not lease a subnet of network "%s": %s attempts lost races; try again');
export const NetworkUnknown = defineError('VXNET_NETWORK_NOT_FOUND', 404, 'network "%s" not found');
export const EndpointExists = defineError('VXNET_ENDPOINT_EXISTS', 409, 'endpoint "%s" exists already on this host');
export const EndpointNotFound = defineError('VXNET_ENDPOINT_NOT_FOUND', 404, 'endpoint "%s" not found on this host');
export const AddressUnavailable = defineError('VXNET_ADDRESS_UNAVAILABLE', 409, 'could not use address %s on network "%s": %s');
export const EndpointNameTaken = defineError('VXNET_ENDPOINT_NAME_TAKEN', 409, 'could not attach "%s" to network "%s": the name is taken by %s');
export const NetnsNotFound = defineError('VXNET_NETNS_NOT_FOUND', 404, 'could not %s: network namespace "%s" does not exist (ensureNetwork first)');
export const DataPlaneFailed = defineError('VXNET_DATAPLANE_FAILED', 500, 'could not %s in network namespace "%s": %s');
export const DataPlaneConflict = defineError('VXNET_DATAPLANE_CONFLICT', 409, 'could not %s in network namespace "%s": %s');
export const StateFileUnreadable = defineError('VXNET_STATE_UNREADABLE', 500, 'cannot read state file %s (%s): fix or restore it; nothing was changed. %s');
export const FirewallFailed = defineError('VXNET_FIREWALL_FAILED', 500, 'could not %s the nftables table ip vxnet: %s');
export const EgressUnavailable = defineError('VXNET_EGRESS_UNAVAILABLE', 503, 'could not %s: traffic in and out of the overlay is unavailable on host %s (%s)');
export const NetworkInternal = defineError('VXNET_NETWORK_INTERNAL', 409, 'could not %s: network "%s" is internal (no way in or out of the overlay)');
export const PortUnavailable = defineError('VXNET_PORT_UNAVAILABLE', 409, 'could not publish %s: %s');
export const NotExposed = defineError('VXNET_NOT_EXPOSED', 404, 'network "%s" is not exposed on host %s');
export const DockerBadRequest = defineError('VXNET_DOCKER_BAD_REQUEST', 400, 'invalid %s request from dockerd: %s');
export const DockerRefused = defineError('VXNET_DOCKER_REFUSED', 409, 'could not %s: %s');
export const DockerTimeout = defineError('VXNET_DOCKER_TIMEOUT', 503, 'could not %s within %s s on host %s (is the store reachable?); the agent finishes it in the background when it can');
export const WireGuardKeyUnreadable = defineError('VXNET_WIREGUARD_KEY_UNREADABLE', 500, 'cannot use the WireGuard key file %s (%s): restore it, or delete it to make a new key (the host gets a new identity); nothing was changed');
export const EncryptionUnavailable = defineError('VXNET_ENCRYPTION_UNAVAILABLE', 503, 'could not join encrypted network "%s" on host %s: WireGuard is unavailable there (%s); an encrypted network is never carried in plaintext');
export const WireGuardFailed = defineError('VXNET_WIREGUARD_FAILED', 500, 'could not %s the WireGuard device %s: %s');
