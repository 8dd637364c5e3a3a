/** Error catalogue of the engine. Agent errors are passed through with their own code. */
import { defineError } from '@vxnet/common';

export const ContainerNotFound = defineError('VXNET_CONTAINER_NOT_FOUND', 404, 'no such container: %s');
export const ContainerAmbiguous = defineError('VXNET_CONTAINER_AMBIGUOUS', 400, 'container id prefix "%s" matches several containers (%s): give more of the id or the name');
export const ContainerNameTaken = defineError('VXNET_CONTAINER_NAME_TAKEN', 409, 'could not create container "%s": the name is in use by container %s; remove it or choose another --name');
export const ImageNotFound = defineError('VXNET_IMAGE_NOT_FOUND', 404, 'could not create container: no image "%s" (images: %s; load one with `vxnet image load -i FILE`, or run a directory with --rootfs DIR)');
export const RootfsNotFound = defineError('VXNET_ROOTFS_NOT_FOUND', 404, 'could not create container: --rootfs %s is not a directory');
export const ContainerNotRunning = defineError('VXNET_CONTAINER_NOT_RUNNING', 409, 'could not %s container "%s": it is not running');
export const ContainerRunning = defineError('VXNET_CONTAINER_RUNNING', 409, 'could not %s container "%s": it is running (stop it first%s)');
export const ContainerStartFailed = defineError('VXNET_CONTAINER_START_FAILED', 500, 'could not start container "%s": %s');
export const ContainerBusy = defineError('VXNET_CONTAINER_BUSY', 409, 'could not %s container "%s": it is being created or removed');
export const NetworkModeInvalid = defineError('VXNET_NETWORK_MODE_INVALID', 400, 'could not %s container "%s": %s');
export const AlreadyConnected = defineError('VXNET_ALREADY_CONNECTED', 409, 'container "%s" is already connected to network "%s"');
export const NotConnected = defineError('VXNET_NOT_CONNECTED', 404, 'container "%s" is not connected to network "%s"');
export const AgentUnreachable = defineError('VXNET_AGENT_UNREACHABLE', 503, 'could not reach the agent at %s: %s');
export const RuncFailed = defineError('VXNET_RUNC_FAILED', 500, 'runc %s failed: %s');
export const ContainerRecordUnreadable = defineError('VXNET_CONTAINER_RECORD_UNREADABLE', 500,
  'could not load container record %s: %s; nothing was removed. To recover, restore or repair that file and start the engine again, '
  + 'or move %s out of %s to start without that container (its runc container and sandbox are then yours to remove; the engine removes its endpoints)');
export const ContainersDirUnreadable = defineError('VXNET_CONTAINERS_DIR_UNREADABLE', 500,
  'could not list the containers in %s: %s; nothing was removed. Fix the directory (permissions, file system) and start the engine again');
export const NoTerminal = defineError('VXNET_NO_TERMINAL', 409, 'could not attach to container "%s": %s');
export const StatsUnreadable = defineError('VXNET_STATS_UNREADABLE', 500, 'could not read the %s of container "%s": %s');
export const CopyFailed = defineError('VXNET_COPY_FAILED', 400, 'could not copy %s container "%s": %s');
export const NoSuchImage = defineError('VXNET_NO_SUCH_IMAGE', 404, 'could not %s image "%s": no such image (see `vxnet image ls`)');
export const ImageAmbiguous = defineError('VXNET_IMAGE_AMBIGUOUS', 400, 'image id prefix "%s" matches several images (%s): give more of the id or a name:tag');
export const ImageLoadRefused = defineError('VXNET_IMAGE_LOAD_REFUSED', 400, 'could not load image: %s; nothing was stored');
export const ImageInUse = defineError('VXNET_IMAGE_IN_USE', 409, 'could not remove image "%s": it is used by container %s (remove the container first)');
export const ImageBuiltin = defineError('VXNET_IMAGE_BUILTIN', 409, 'could not remove image "%s": it is built into the engine');
export const ImageStoreUnreadable = defineError('VXNET_IMAGE_STORE_UNREADABLE', 500, 'could not read image record %s: %s; nothing was removed. Repair or move that file away and start the engine again');
export const RootfsMountFailed = defineError('VXNET_ROOTFS_MOUNT_FAILED', 500, 'could not mount the root file system of container "%s": %s');
export const ImageReferenceInvalid = defineError('VXNET_IMAGE_REFERENCE_INVALID', 400, 'could not pull image "%s": the reference %s');
export const ImagePullFailed = defineError('VXNET_IMAGE_PULL_FAILED', 502, 'could not pull image "%s": %s; nothing was stored');
