/**
 * vxnet: the command line. The one place that wires the CLI together: commander
 * definitions here, each verb's code in commands/<verb>.ts, loaded lazily.
 *
 * User errors (VxnetError) print one line and exit 1; anything else is a bug and
 * prints its stack only with VXNET_DEBUG=1.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { createLogger, isUserError } from '@vxnet/common';
import { vxnetHome } from './context.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function logger() {
  return createLogger({ name: 'vxnet-cli', file: join(vxnetHome(), 'vxnet.log') });
}

function build(): Command {
  const program = new Command('vxnet')
    .description('vxnet: multi-host overlay networks for containers (kernel VXLAN, etcd, runc)')
    .version(version)
    .option('--lab <name>', 'lab to act on (default: $VXNET_LAB, then the current lab)')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();

  const lab = program.command('lab').description('a whole cluster on one machine, made of network namespaces').enablePositionalOptions();
  const labName = (flags: { name?: string }) => flags.name ?? (program.opts().lab as string | undefined);

  lab.command('up')
    .description('create a lab: hosts on an underlay switch, and etcd; it becomes the current lab')
    .option('--name <name>', 'lab name', 'lab')
    .option('--hosts <n>', 'number of hosts', '3')
    .option('--underlay <cidr>', 'underlay CIDR (TEST-NET-1 by default)', '192.0.2.0/24')
    .option('--json', 'print the lab status as JSON')
    .action(async (flags) => {
      const { labUpCommand } = await import('./commands/lab-up.js');
      process.exitCode = await labUpCommand(flags, logger());
    });

  lab.command('status')
    .description('show a lab: hosts, addresses, etcd; exits 1 when something is missing')
    .option('--name <name>', 'lab name (default: the current lab)')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const { labStatusCommand } = await import('./commands/lab-status.js');
      process.exitCode = labStatusCommand({ ...flags, name: labName(flags) });
    });

  lab.command('ls')
    .description('list labs')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const { labLsCommand } = await import('./commands/lab-ls.js');
      process.exitCode = labLsCommand(flags);
    });

  lab.command('exec')
    .description('run a command on a lab host (in its network namespace)')
    .option('--name <name>', 'lab name (default: the current lab)')
    .argument('<host>', 'host name, e.g. h1')
    .argument('<cmd...>', 'command and arguments (put -- before them)')
    .passThroughOptions()
    .action(async (host: string, cmd: string[], flags) => {
      const { labExecCommand } = await import('./commands/lab-exec.js');
      process.exitCode = await labExecCommand(host, cmd, { name: labName(flags) });
    });

  lab.command('down')
    .description('remove a lab: every namespace, link, process and file it made')
    .option('--name <name>', 'lab name (default: the current lab)')
    .option('--json', 'print what was removed as JSON')
    .action(async (flags) => {
      const { labDownCommand } = await import('./commands/lab-down.js');
      process.exitCode = await labDownCommand({ ...flags, name: labName(flags) }, logger());
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
