/**
 * VXNET_DNS_ADDRESS: the one address on which vxnet's DNS answers for a network, on
 * every network and every host, beside the network's gateway (which differs per host).
 *
 * Why (issue 11, for the README's Docker section): Docker's embedded DNS (127.0.0.11)
 * knows only the containers of its own dockerd and forwards every other name to the
 * container's DNS servers, which come from dockerd's `--dns` (daemon.json `"dns"`) for
 * all its containers. A per-host gateway cannot be that server; one fixed address that
 * means "vxnet's DNS of the network this container is on" can: with
 * `"dns": ["169.254.169.53"]` in daemon.json, every container on every vxnet network
 * resolves the containers of other hosts by name, no per-container `--dns`.
 *
 * How: the address is a /32 on br0 in every network namespace, where the agent's DNS
 * listens on it as on the gateway. Docker's resolver dials non-loopback servers from
 * inside the container (moby#19474), so the query leaves by the container's default
 * route, the vxnet gateway, and arrives in the namespace of the network the container
 * is on, from the container's own address: the DNS still knows which container asks
 * and answers only names of the networks that container is on (isolation unchanged).
 * A container whose default route is another network (Docker's bridge) does not reach
 * it. Link-local (RFC 3927) so it is never routed off the host and cannot collide with
 * an address a user routes; not 169.254.169.254, the cloud metadata address.
 */
export const VXNET_DNS_ADDRESS = '169.254.169.53';
