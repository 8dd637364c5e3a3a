/** Error catalogue of the controller: code, HTTP status, message template. */
import { defineError } from '@vxnet/common';

export const NetworkNotFound = defineError('VXNET_NETWORK_NOT_FOUND', 404, 'network "%s" not found');
export const NetworkAmbiguous = defineError('VXNET_NETWORK_AMBIGUOUS', 400, 'network id prefix "%s" matches several networks: %s');
export const NetworkNameTaken = defineError('VXNET_NETWORK_NAME_TAKEN', 409, 'could not create network "%s": the name is taken by network %s');
export const UnsupportedDriver = defineError('VXNET_UNSUPPORTED_DRIVER', 400, 'could not create network "%s": unsupported driver "%s" (supported drivers: %s)');
export const SubnetOverlap = defineError('VXNET_SUBNET_OVERLAP', 409, 'could not create network "%s": subnet %s overlaps %s');
export const VniInUse = defineError('VXNET_VNI_IN_USE', 409, 'could not create network "%s": VNI %s is in use by network "%s"');
export const PoolExhausted = defineError('VXNET_POOL_EXHAUSTED', 409, 'could not create network "%s": %s');
export const NetworkHasEndpoints = defineError('VXNET_NETWORK_HAS_ENDPOINTS', 409, 'could not remove network "%s": it has %s endpoint(s): %s (use -f to remove it anyway)');
export const AllocationContention = defineError('VXNET_ALLOCATION_CONTENTION', 503, 'could not create network "%s": %s; try again');
export const AllocationsUnreadable = defineError('VXNET_ALLOCATIONS_UNREADABLE', 500, 'could not migrate the allocations document %s: %s; fix or remove it by hand (every network record under networks/ is kept)');
export const LeaseNotFound = defineError('VXNET_LEASE_NOT_FOUND', 404, 'no lease on subnet %s of network "%s"');
export const Unauthorized = defineError('VXNET_UNAUTHORIZED', 401, 'authentication required');
export const TokenFileInvalid = defineError('VXNET_TOKEN_FILE_INVALID', 500, 'could not start the controller: token file %s %s');
export const EncryptionUnavailable = defineError('VXNET_ENCRYPTION_UNAVAILABLE', 409, 'could not create network "%s": --opt encrypted needs WireGuard, and none of the live hosts (%s) has it (install wireguard-tools, and wireguard-go where the kernel has no WireGuard); an encrypted network is never carried in plaintext');
export const TlsFileInvalid = defineError('VXNET_TLS_FILE_INVALID', 500, 'could not start the controller: %s');
export const ClientCertificateRefused = defineError('VXNET_CLIENT_CERTIFICATE_REFUSED', 403, 'the controller refused the client certificate: %s');
