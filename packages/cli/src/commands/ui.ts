import { InvalidArgument } from '@vxnet/common';
import { resolveLab } from '../context.js';
import { LabNotFound } from '../errors.js';
import { readLabState } from '../lab/lab-state.js';
import { print } from '../output.js';

/**
 * `vxnet ui [--json]`: the URL of the current lab's topology page on stdout (one line,
 * for scripts), and on stderr how to sign in and from where the address is reachable.
 * The token is never printed: the page asks for it in a form.
 */
export async function uiCommand(flags: { lab?: string; json?: boolean }): Promise<number> {
  const name = resolveLab(flags.lab);
  const state = readLabState(name);
  if (!state) throw new LabNotFound(name, '');
  const ctl = state.controller;
  if (!ctl.uiUrl) throw new InvalidArgument(`lab "${name}" was made before the topology page: run \`vxnet lab down\` and \`lab up\` again`);
  const more = (state.moreControllers ?? []).map((c) => c.uiUrl).filter((u): u is string => u !== undefined);
  if (flags.json) {
    print(JSON.stringify({ url: ctl.uiUrl, urls: [ctl.uiUrl, ...more], tokenFile: ctl.tokenFile, ca: state.pki?.ca ?? null, netns: ctl.netns }));
    return 0;
  }
  print(ctl.uiUrl);
  process.stderr.write([
    `sign in with the token in ${ctl.tokenFile} (the page asks for it; it never goes in a URL)`,
    ...(state.pki ? [`the page's certificate is signed by the lab's CA ${state.pki.ca}`] : []),
    `the address is on the lab's underlay, reachable from the lab's namespaces, e.g.:`,
    `  nsenter --net=/run/netns/${ctl.netns} chromium --user-data-dir=$(mktemp -d) ${ctl.uiUrl}`,
    ...(more.length ? [`other controllers: ${more.join(' ')}`] : []),
    '',
  ].join('\n'));
  return 0;
}
