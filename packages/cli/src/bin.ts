/**
 * vxnet: the command line. The one place that wires the CLI together: commander
 * definitions here, each verb's code in commands/<verb>.ts, loaded lazily.
 *
 * User errors (VxnetError) print one line and exit 1; anything else is a bug and
 * prints its stack only with VXNET_DEBUG=1.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { isUserError, type Logger } from '@vxnet/common';
import type { ControllerFlags } from './controller-client.js';
import type { EngineFlags } from './engine-client.js';
import { collect } from './format.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

async function logger(): Promise<Logger> {
  const { cliLogger } = await import('./cli-logger.js');
  return cliLogger();
}

function build(): Command {
  const program = new Command('vxnet')
    .description('vxnet: multi-host overlay networks for containers (kernel VXLAN, etcd, runc)')
    .version(version)
    .option('--lab <name>', 'lab to act on (default: $VXNET_LAB, then the current lab)')
    .option('--controller <url>', 'controller to talk to: unix:///path/to/socket, https://host:port or http://host:port, several comma-separated to fail over between them (default: $VXNET_CONTROLLER, then the current lab\'s controllers)')
    .option('--request-timeout <seconds>', 'how long a request to the controllers may take, failover included (default: $VXNET_REQUEST_TIMEOUT, then 30)')
    .option('--token-file <file>', 'file holding the token of a TCP controller (default: $VXNET_TOKEN_FILE, then the current lab\'s controller token file)')
    .option('--ca-file <file>', 'PEM CA that signed an https:// controller\'s certificate (default: $VXNET_CA_FILE, then the current lab\'s CA, then the system\'s CAs)')
    .option('--cert-file <file>', 'PEM client certificate for an https:// controller that asks for one, with --key-file (default: $VXNET_CERT_FILE, then the current lab\'s admin certificate)')
    .option('--key-file <file>', 'PEM private key of --cert-file (default: $VXNET_KEY_FILE, then the current lab\'s admin key)')
    .option('-H, --host <host>', 'engine to talk to: a host of the current lab (h1) or unix:///path/to/engine.sock (default: $VXNET_HOST; the only host of a one-host lab)')
    // usage errors too are one line, in the same form as every other error
    .configureOutput({ outputError: (str, write) => write(`vxnet: ${str.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see --help)\n`) })
    .enablePositionalOptions();

  const lab = program.command('lab').description('a whole cluster on one machine, made of network namespaces').enablePositionalOptions();
  const labName = (flags: { name?: string }) => flags.name ?? (program.opts().lab as string | undefined);

  lab.command('up')
    .description('create a lab: hosts on an underlay switch, a store (etcd or Redis), and an outside host behind a router '
      + '(198.51.100.10, or 203.0.113.10 when the underlay overlaps 198.51.100.0/24: tcp+udp echo on 7, discard on 9, HTTP on 80 answering the client\'s address); '
      + 'it becomes the current lab')
    .option('--name <name>', 'lab name', 'lab')
    .option('--hosts <n>', 'number of hosts', '3')
    .option('--underlay <cidr>', 'underlay CIDR (TEST-NET-1 by default)', '192.0.2.0/24')
    .option('--dns-upstream <ip[:port],...>', 'DNS servers the agents forward other names to (default: none; lab hosts reach nothing outside the lab)')
    .option('--store <kind>', 'the store the lab runs: etcd or redis', 'etcd')
    .option('--store-members <n>', 'etcd members to run, 1, 3 or 5, each in a namespace of its own; daemons get every member (default 1)')
    .option('--controllers <n>', 'controllers to run, 1-3, each in a machine of its own; the CLI gets them all and fails over (default 1)')
    .option('--docker', 'also run a dockerd (Debian docker.io) on every host, with the image vxnet-busybox:latest; use it with `vxnet lab docker HOST -- ARGS`')
    .option('--podman', 'also set podman (Debian podman 4.3, CNI backend) up on every host, with the image localhost/vxnet-busybox:latest; use it with `vxnet lab podman HOST -- ARGS`')
    .option('--json', 'print the lab status as JSON')
    .action(async (flags) => {
      const { labUpCommand } = await import('./commands/lab-up.js');
      process.exitCode = await labUpCommand(flags, await logger());
    });

  lab.command('status')
    .description('show a lab: hosts, addresses, the store, the outside; exits 1 when something is missing')
    .option('--name <name>', 'lab name (default: the current lab)')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const { labStatusCommand } = await import('./commands/lab-status.js');
      process.exitCode = await labStatusCommand({ ...flags, name: labName(flags) });
    });

  lab.command('ls')
    .description('list labs')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const { labLsCommand } = await import('./commands/lab-ls.js');
      process.exitCode = labLsCommand(flags);
    });

  lab.command('exec')
    .description('run a command on a lab host (in its machine: network, mounts, host name)')
    .option('--name <name>', 'lab name (default: the current lab)')
    .argument('<host>', 'host name, e.g. h1')
    .argument('<cmd...>', 'command and arguments (put -- before them)')
    .passThroughOptions()
    .action(async (host: string, cmd: string[], flags) => {
      const { labExecCommand } = await import('./commands/lab-exec.js');
      process.exitCode = await labExecCommand(host, cmd, { name: labName(flags) });
    });

  lab.command('docker')
    .description('run the docker CLI against a lab host\'s dockerd (labs made with --docker), e.g. `vxnet lab docker h1 -- ps`')
    .option('--name <name>', 'lab name (default: the current lab)')
    .argument('<host>', 'host name, e.g. h1')
    .argument('[args...]', 'docker arguments (put -- before them)')
    .passThroughOptions()
    .action(async (host: string, args: string[], flags) => {
      const { labDockerCommand } = await import('./commands/lab-docker.js');
      process.exitCode = await labDockerCommand(host, args, { name: labName(flags) });
    });

  lab.command('podman')
    .description('run podman on a lab host, in its machine (labs made with --podman), e.g. `vxnet lab podman h1 -- ps -a`')
    .option('--name <name>', 'lab name (default: the current lab)')
    .argument('<host>', 'host name, e.g. h1')
    .argument('[args...]', 'podman arguments (put -- before them)')
    .passThroughOptions()
    .action(async (host: string, args: string[], flags) => {
      const { labPodmanCommand } = await import('./commands/lab-podman.js');
      process.exitCode = await labPodmanCommand(host, args, { name: labName(flags) });
    });

  lab.command('kill')
    .description('send a signal to a lab daemon, by its recorded pid: HOST agent|engine|docker, or store, controller, outside (its responder)')
    .option('--name <name>', 'lab name (default: the current lab)')
    .option('-s, --signal <signal>', 'signal to send (TERM, KILL, STOP, CONT, ...)', 'TERM')
    .argument('<target>', 'a host (h1), `store`, `controller` or `outside`')
    .argument('[daemon]', 'agent, engine or docker (for a host)')
    .option('--member <n>', 'with store: one etcd member of a cluster (1-based, see `lab status`); with controller: which controller')
    .action(async (target: string, daemon: string | undefined, flags) => {
      const { labKillCommand } = await import('./commands/lab-kill.js');
      const { labTarget } = await import('./commands/lab-target.js');
      process.exitCode = await labKillCommand(labTarget(target, daemon, flags.member), { ...flags, name: labName(flags) });
    });

  lab.command('restart')
    .description('stop a lab daemon if it runs and start it again with its recorded command line: HOST agent|engine|docker, or store, controller, outside (its responder)')
    .option('--name <name>', 'lab name (default: the current lab)')
    .argument('<target>', 'a host (h1), `store`, `controller` or `outside`')
    .argument('[daemon]', 'agent, engine or docker (for a host)')
    .option('--member <n>', 'with store: one etcd member of a cluster (1-based, see `lab status`); with controller: which controller')
    .action(async (target: string, daemon: string | undefined, flags) => {
      const { labRestartCommand } = await import('./commands/lab-restart.js');
      const { labTarget } = await import('./commands/lab-target.js');
      process.exitCode = await labRestartCommand(labTarget(target, daemon, flags.member), { ...flags, name: labName(flags) }, await logger());
    });

  lab.command('down')
    .description('remove a lab: every namespace, link, process and file it made')
    .option('--name <name>', 'lab name (default: the current lab)')
    .option('--json', 'print what was removed as JSON')
    .action(async (flags) => {
      const { labDownCommand } = await import('./commands/lab-down.js');
      process.exitCode = await labDownCommand({ ...flags, name: labName(flags) }, await logger());
    });

  const conn = () => program.opts() as ControllerFlags;
  const engineConn = () => program.opts() as EngineFlags;

  const net = program.command('net').alias('network').description('overlay networks: create, list, inspect, remove, expose to a host').enablePositionalOptions();

  net.command('create')
    .description('create an overlay network; prints its id')
    .argument('<name>', 'network name')
    .option('-d, --driver <driver>', 'network driver', 'overlay')
    .option('--subnet <cidr>', 'address range of the network (default: the next free block of the controller\'s pool)')
    .option('--host-subnet-len <n>', 'prefix length of the subnet each host leases (default 24)')
    .option('--vni <n>', 'VXLAN network identifier, 1-16777215 (default: the next free from 4096)')
    .option('--mtu <n>', 'MTU inside the network (default: each host\'s underlay MTU - 50)')
    .option('--internal', 'no way out of the network: no egress, no published ports')
    .option('--label <key=value>', 'metadata on the network (repeatable)', collect)
    .option('-o, --opt <key=value>', 'driver option (repeatable)', collect)
    .option('--json', 'print the new network as JSON')
    .action(async (name: string, flags) => {
      const { netCreateCommand } = await import('./commands/net-create.js');
      process.exitCode = await netCreateCommand(name, flags, conn());
    });

  net.command('ls').alias('list')
    .description('list networks')
    .option('-q, --quiet', 'print only the (short) ids')
    .option('--json', 'print the networks as JSON')
    .action(async (flags) => {
      const { netLsCommand } = await import('./commands/net-ls.js');
      process.exitCode = await netLsCommand(flags, conn());
    });

  net.command('inspect')
    .description('show a network: its spec, the hosts holding a subnet of it, its endpoints')
    .argument('<network>', 'network name, id or unique id prefix')
    .option('--json', 'print the API object')
    .action(async (ref: string, flags) => {
      const { netInspectCommand } = await import('./commands/net-inspect.js');
      process.exitCode = await netInspectCommand(ref, flags, conn());
    });

  net.command('rm').alias('remove')
    .description('remove networks (refused while a network has endpoints, unless -f)')
    .argument('<network...>', 'network names, ids or unique id prefixes')
    .option('-f, --force', 'remove even while containers are attached')
    .option('--json', 'print the removed networks as JSON')
    .action(async (refs: string[], flags) => {
      const { netRmCommand } = await import('./commands/net-rm.js');
      process.exitCode = await netRmCommand(refs, flags, conn());
    });

  net.command('connect')
    .description('connect a container to one more network (next ethN; on its engine\'s host)')
    .argument('<network>', 'network name or id')
    .argument('<container>', 'container name, id or unique id prefix')
    .option('--alias <name>', 'extra DNS name on this network (repeatable)', collect)
    .option('--ip <address>', 'address in this host\'s subnet of the network')
    .option('--json', 'print the new endpoint as JSON')
    .action(async (network: string, container: string, flags) => {
      const { netConnectCommand } = await import('./commands/net-connect.js');
      process.exitCode = await netConnectCommand(network, container, flags, engineConn());
    });

  net.command('disconnect')
    .description('disconnect a container from a network')
    .argument('<network>', 'network name or id')
    .argument('<container>', 'container name, id or unique id prefix')
    .action(async (network: string, container: string) => {
      const { netDisconnectCommand } = await import('./commands/net-disconnect.js');
      process.exitCode = await netDisconnectCommand(network, container, engineConn());
    });

  net.command('expose')
    .description('give the host (-H) an address on a network, so it reaches every container on it, on any host, without NAT; prints the address')
    .argument('<network>', 'network name or id')
    .option('--json', 'print the agent\'s answer as JSON')
    .action(async (network: string, flags) => {
      const { netExposeCommand } = await import('./commands/net-expose.js');
      process.exitCode = await netExposeCommand(network, flags, engineConn());
    });

  net.command('unexpose')
    .description('take the host\'s (-H) address on a network back; prints the address it had')
    .argument('<network>', 'network name or id')
    .option('--json', 'print the agent\'s answer as JSON')
    .action(async (network: string, flags) => {
      const { netUnexposeCommand } = await import('./commands/net-unexpose.js');
      process.exitCode = await netUnexposeCommand(network, flags, engineConn());
    });

  // containers, on the engine chosen by -H
  program.command('run')
    .description('create and start a container (attached: prints its output and exits with its code)')
    .argument('[image]', 'image: busybox or a loaded one (name[:tag], id prefix); with --rootfs, the command\'s first word')
    .argument('[cmd...]', 'command and arguments (default: sh; kept running with -d)')
    .option('-d, --detach', 'run in the background and print the container id')
    .option('-i, --interactive', 'with -t: our stdin to the container\'s terminal')
    .option('-t, --tty', 'run on a terminal and attach to it (run -it --name x busybox sh: an interactive shell)')
    .option('--name <name>', 'container name (default: generated)')
    .option('--net <network>', 'overlay network to attach (repeatable), or none, host, container:NAME (default: none)', collect)
    .option('--ip <address>', 'address on the first network')
    .option('--alias <name>', 'extra DNS name on the networks (repeatable)', collect)
    .option('-p, --publish <[ip:]hostPort:containerPort[/tcp|udp]>', 'publish a port on this host (its underlay address, or IP) to the container\'s address on its first network, while it runs (repeatable)', collect)
    .option('--hostname <name>', 'host name inside the container (default: the short id)')
    .option('-e, --env <key=value>', 'environment variable (repeatable)', collect)
    .option('--rootfs <dir>', 'run this directory as the root filesystem instead of an image')
    .option('--rm', 'remove the container when it exits (also detached; not with --restart)')
    .option('--restart <policy>', 'when it exits: no, on-failure[:N] (at most N restarts), always, unless-stopped (default no); back-off 100 ms doubling to 1 min, reset after a 10 s run')
    .option('-w, --workdir <dir>', 'working directory of the process in the container (absolute)')
    .option('-u, --user <user[:group]>', 'user of the process: name or uid, optionally :group or :gid (names from the image\'s /etc/passwd)')
    .option('--entrypoint <cmd>', 'replace the image\'s entrypoint ("" clears it); the image\'s command is then dropped unless CMD is given')
    .option('--detach-keys <keys>', 'with -it: keys that detach from the terminal, leaving it running (default ctrl-p,ctrl-q)')
    .passThroughOptions()
    .action(async (image: string | undefined, cmd: string[], flags) => {
      const { runCommand } = await import('./commands/run.js');
      process.exitCode = await runCommand(image, cmd, flags, engineConn());
    });

  program.command('ps')
    .description('list containers (running ones; all with -a)')
    .option('-a, --all', 'include stopped containers')
    .option('-q, --quiet', 'print only the (short) ids')
    .option('--json', 'print the containers as JSON')
    .action(async (flags) => {
      const { psCommand } = await import('./commands/ps.js');
      process.exitCode = await psCommand(flags, engineConn());
    });

  program.command('stats')
    .description('CPU %, memory, network I/O and pids of containers (running ones, or those named), refreshed every second')
    .argument('[container...]', 'container names, ids or unique id prefixes (default: every running container)')
    .option('-a, --all', 'include stopped containers')
    .option('--no-stream', 'print one table and exit (after one second: CPU % needs two samples)')
    .option('--json', 'print the rows as JSON (while streaming, one array per line)')
    .action(async (refs: string[], flags) => {
      const { statsCommand } = await import('./commands/stats.js');
      process.exitCode = await statsCommand(refs, flags, engineConn());
    });

  program.command('top')
    .description('list the processes of a running container, as ps -ef (host pids)')
    .argument('<container>', 'container name, id or unique id prefix')
    .option('--json', 'print the API object')
    .action(async (ref: string, flags) => {
      const { topCommand } = await import('./commands/top.js');
      process.exitCode = await topCommand(ref, flags, engineConn());
    });

  program.command('exec')
    .description('run a command in a running container, its output streamed; exits with its exit code (Ctrl-C ends it)')
    .argument('<container>', 'container name, id or unique id prefix')
    .argument('<cmd...>', 'command and arguments')
    .option('-i, --interactive', 'forward stdin to the command (without it, the command reads /dev/null)')
    .option('-t, --tty', 'give the command a terminal (with -i: an interactive shell, e.g. exec -it C sh)')
    .option('-e, --env <key=value>', 'environment variable (repeatable)', collect)
    .passThroughOptions()
    .action(async (container: string, cmd: string[], flags) => {
      const { execCommand } = await import('./commands/exec.js');
      process.exitCode = await execCommand(container, cmd, flags, engineConn());
    });

  program.command('logs')
    .description('print a container\'s output')
    .argument('<container>', 'container name, id or unique id prefix')
    .option('-f, --follow', 'keep printing until the container stops (following restarts by its policy)')
    .option('-t, --timestamps', 'prefix each line with when it was written (RFC 3339)')
    .option('--since <when>', 'only lines written since: a time (2026-11-29T14:00:00Z), Unix seconds, or a duration back from now (42s, 10m, 1h30m)')
    .action(async (container: string, flags) => {
      const { logsCommand } = await import('./commands/logs.js');
      process.exitCode = await logsCommand(container, flags, engineConn());
    });

  program.command('stop')
    .description('stop containers: SIGTERM, then SIGKILL after a timeout')
    .argument('<container...>', 'container names, ids or unique id prefixes')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL (default 10)')
    .action(async (refs: string[], flags) => {
      const { stopCommand } = await import('./commands/stop.js');
      process.exitCode = await stopCommand(refs, flags, engineConn());
    });

  program.command('restart')
    .description('stop containers (SIGTERM, SIGKILL after a timeout), then start them again')
    .argument('<container...>', 'container names, ids or unique id prefixes')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL (default 10)')
    .action(async (refs: string[], flags) => {
      const { restartCommand } = await import('./commands/restart.js');
      process.exitCode = await restartCommand(refs, flags, engineConn());
    });

  program.command('attach')
    .description('attach to the terminal of a container run with -t (run -dit): its output, our input; ctrl-p ctrl-q detaches')
    .argument('<container>', 'container name, id or unique id prefix')
    .option('--no-stdin', 'do not send our input')
    .option('--detach-keys <keys>', 'keys that detach, leaving the container running (default ctrl-p,ctrl-q)')
    .action(async (ref: string, flags) => {
      const { attachCommand } = await import('./commands/attach.js');
      process.exitCode = await attachCommand(ref, flags, engineConn());
    });

  program.command('cp')
    .description('copy files or directories between this machine and a container: cp SRC CONTAINER:DST, cp CONTAINER:SRC DST')
    .argument('<src>', 'local path, or CONTAINER:PATH')
    .argument('<dst>', 'local path, or CONTAINER:PATH')
    .action(async (src: string, dst: string) => {
      const { cpCommand } = await import('./commands/cp.js');
      process.exitCode = await cpCommand(src, dst, engineConn());
    });

  program.command('start')
    .description('start stopped containers again (same name, sandbox and addresses)')
    .argument('<container...>', 'container names, ids or unique id prefixes')
    .action(async (refs: string[]) => {
      const { startCommand } = await import('./commands/start.js');
      process.exitCode = await startCommand(refs, engineConn());
    });

  program.command('rm')
    .description('remove containers and everything they had (endpoints, sandbox, logs)')
    .argument('<container...>', 'container names, ids or unique id prefixes')
    .option('-f, --force', 'kill running containers first')
    .action(async (refs: string[], flags) => {
      const { rmCommand } = await import('./commands/rm.js');
      process.exitCode = await rmCommand(refs, flags, engineConn());
    });

  program.command('inspect')
    .description('show a container: state, pid, host, sandbox, networks with IP, MAC and gateway')
    .argument('<container>', 'container name, id or unique id prefix')
    .option('--json', 'print the API object')
    .action(async (ref: string, flags) => {
      const { inspectCommand } = await import('./commands/inspect.js');
      process.exitCode = await inspectCommand(ref, flags, engineConn());
    });

  program.command('pull')
    .description('pull an image from a registry into the engine\'s host (-H); the registry must be named')
    .argument('<ref>', 'REGISTRY[:PORT]/NAME[:TAG|@sha256:DIGEST]')
    .option('-u, --username <user>', 'user for the registry (its token server)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--ca-file <pem>', 'also trust this CA certificate for the registry')
    .option('--json', 'print the pulled image as JSON')
    .action(async (ref: string, flags) => {
      const { pullCommand } = await import('./commands/pull.js');
      process.exitCode = await pullCommand(ref, flags, engineConn());
    });

  const image = program.command('image').description('images of the engine\'s host (-H): load, list, inspect, remove').enablePositionalOptions();

  image.command('load')
    .description('load images from a docker save tarball or an OCI image layout (tar, gzipped or not, or a directory); prints their names')
    .option('-i, --input <file>', 'the archive: a tar file or an OCI layout directory')
    .option('--json', 'print the loaded images as JSON')
    .action(async (flags) => {
      const { imageLoadCommand } = await import('./commands/image-load.js');
      process.exitCode = await imageLoadCommand(flags, engineConn());
    });

  image.command('ls').alias('list')
    .description('list images (the built-in busybox too)')
    .option('-q, --quiet', 'print only the (short) ids of loaded images')
    .option('--json', 'print the images as JSON')
    .action(async (flags) => {
      const { imageLsCommand } = await import('./commands/image-ls.js');
      process.exitCode = await imageLsCommand(flags, engineConn());
    });

  image.command('inspect')
    .description('show an image: id, tags, layers, and what its containers run (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts)')
    .argument('<image>', 'name[:tag], id or unique id prefix')
    .option('--json', 'print the API object')
    .action(async (ref: string, flags) => {
      const { imageInspectCommand } = await import('./commands/image-inspect.js');
      process.exitCode = await imageInspectCommand(ref, flags, engineConn());
    });

  image.command('rm').alias('remove')
    .description('remove images (just the tag when the image has others); refused while a container uses the image')
    .argument('<image...>', 'name[:tag], id or unique id prefix')
    .action(async (refs: string[]) => {
      const { imageRmCommand } = await import('./commands/image-rm.js');
      process.exitCode = await imageRmCommand(refs, engineConn());
    });

  const cni = program.command('cni').description('the CNI plugin: attach containers of podman, containerd, CRI-O or Kubernetes to vxnet networks').enablePositionalOptions();
  cni.command('install')
    .description('write the vxnet CNI executable and a configuration list for a network on this host (run it on every host)')
    .argument('<network>', 'network name, id or unique id prefix (must exist)')
    .option('--dir <dir>', 'CNI plugin directory', '/opt/cni/bin')
    .option('--conf-dir <dir>', 'CNI configuration directory', '/etc/cni/net.d')
    .option('--json', 'print what was written as JSON')
    .action(async (network: string, flags) => {
      const { cniInstallCommand } = await import('./commands/cni-install.js');
      process.exitCode = await cniInstallCommand(network, flags, conn());
    });

  program.command('ui')
    .description('print the URL of the current lab\'s topology page (hosts, networks, containers, leases, peerings, live)')
    .option('--json', 'print the URL, the token file and the CA as JSON')
    .action(async (flags) => {
      const { uiCommand } = await import('./commands/ui.js');
      process.exitCode = await uiCommand({ ...flags, ...(program.opts().lab ? { lab: program.opts().lab } : {}) });
    });

  const host = program.command('host').description('hosts that registered with the cluster').enablePositionalOptions();
  host.command('ls').alias('list')
    .description('list hosts, alive or dead')
    .option('--json', 'print the hosts as JSON')
    .action(async (flags) => {
      const { hostLsCommand } = await import('./commands/host-ls.js');
      process.exitCode = await hostLsCommand(flags, conn());
    });

  const lease = program.command('lease').description('subnet leases: which host holds which subnet of a network, until when').enablePositionalOptions();
  lease.command('ls').alias('list')
    .description('list subnet leases')
    .option('--net <network>', 'only leases of this network (name or id)')
    .option('--host <host>', 'only leases held by this host')
    .option('--json', 'print the leases as JSON')
    .action(async (flags) => {
      const { leaseLsCommand } = await import('./commands/lease-ls.js');
      process.exitCode = await leaseLsCommand(flags, conn());
    });
  lease.command('inspect')
    .description('show one lease in full, with its store key and store lease id')
    .argument('<network>', 'network name or id')
    .argument('<subnet>', 'the leased subnet, e.g. 10.128.3.0/24')
    .option('--json', 'print the API object')
    .action(async (network: string, subnet: string, flags) => {
      const { leaseInspectCommand } = await import('./commands/lease-inspect.js');
      process.exitCode = await leaseInspectCommand(network, subnet, flags, conn());
    });

  return program;
}

try {
  await build().parseAsync(process.argv);
} catch (err) {
  if (isUserError(err)) {
    process.stderr.write(`vxnet: ${err.message}\n`);
  } else {
    process.stderr.write(`vxnet: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
    if (process.env.VXNET_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  }
  process.exitCode = 1;
}
