/** Error catalogue of the CLI (codes shared with the API style of @vxnet/common). */
import { defineError } from '@vxnet/common';

export const NotRoot = defineError('VXNET_NOT_ROOT', 403, '%s needs root: it creates network namespaces and links (run it with sudo)');
export const MissingTool = defineError('VXNET_MISSING_TOOL', 500, '%s not found in PATH: run `npm run bootstrap` to install it');
export const LabNotFound = defineError('VXNET_LAB_NOT_FOUND', 404, 'no lab named "%s"%s');
export const NoCurrentLab = defineError('VXNET_NO_CURRENT_LAB', 400, 'no lab selected: pass --name, set VXNET_LAB, or run `vxnet lab up` first');
export const LabExists = defineError('VXNET_LAB_EXISTS', 409, 'lab "%s" is already up (see `vxnet lab status --name %s`); nothing was changed');
export const LabLeftover = defineError('VXNET_LAB_LEFTOVER', 409, 'lab "%s" was left half made (state: %s); run `vxnet lab down --name %s` first; nothing was changed');
export const LabHostNotFound = defineError('VXNET_LAB_HOST_NOT_FOUND', 404, 'lab "%s" has no host "%s" (hosts: %s)');
export const LabUpFailed = defineError('VXNET_LAB_UP_FAILED', 500, 'could not bring up lab "%s": %s; everything it had made was removed');
export const CommandFailed = defineError('VXNET_COMMAND_FAILED', 500, '%s failed: %s');
export const NoController = defineError('VXNET_NO_CONTROLLER', 400, 'no controller to talk to: pass --controller URL, set VXNET_CONTROLLER, or run `vxnet lab up`');
export const ControllerUnreachable = defineError('VXNET_CONTROLLER_UNREACHABLE', 503, 'could not reach the controller at %s: %s');
export const TlsFileUnreadable = defineError('VXNET_TLS_FILE_UNREADABLE', 400, 'could not read %s for the controller at %s from %s (named by %s): %s');
export const TokenUnreadable = defineError('VXNET_TOKEN_UNREADABLE', 400, 'could not read the token for the controller at %s from %s (named by %s): %s');
export const NoEngine = defineError('VXNET_NO_ENGINE', 400, 'no engine to talk to: %s');
export const EngineUnreachable = defineError('VXNET_ENGINE_UNREACHABLE', 503, 'could not reach the engine at %s: %s');
export const StreamBroken = defineError('VXNET_STREAM_BROKEN', 502, 'the connection to the engine at %s ended before the command did: %s');
export const DockerNotInstalled = defineError('VXNET_DOCKER_NOT_INSTALLED', 500, 'lab up --docker needs Docker (Debian docker.io 20.10): %s not found in PATH; install it with `apt-get install --no-install-recommends docker.io` (the test command installs it for the tests that need it)');
export const LabWithoutDocker = defineError('VXNET_LAB_WITHOUT_DOCKER', 400, 'lab "%s" has no dockerd on %s: it was made without --docker (`vxnet lab up --docker`)');
export const CniInstallFailed = defineError('VXNET_CNI_INSTALL_FAILED', 500, 'could not install the CNI plugin for network "%s": %s');
export const PodmanNotInstalled = defineError('VXNET_PODMAN_NOT_INSTALLED', 500, 'lab up --podman needs Debian\'s podman with the CNI plugins: %s not found; install them with `apt-get install --no-install-recommends podman containernetworking-plugins` (the test command installs them for the tests that need them)');
export const LabWithoutPodman = defineError('VXNET_LAB_WITHOUT_PODMAN', 400, 'lab "%s" has no podman set up on %s: it was made without --podman (`vxnet lab up --podman`)');
