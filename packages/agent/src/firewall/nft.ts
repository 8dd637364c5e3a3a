/**
 * Running `nft`, as knftables does: generated text on stdin, JSON read back. There is
 * no maintained npm binding of libnftables (ops-features.md §3), and the CLI's text
 * format is the documented, stable interface.
 *
 * Only fixed argument vectors are ever passed (`-f -`, `-c -f -`, `-j list table ip
 * vxnet`); the ruleset itself goes through stdin, so nothing in it can become an
 * option. No shell is involved.
 */
import { spawn } from 'node:child_process';

import { netnsPath } from '@vxnet/netns';

import { TABLE_FAMILY, TABLE_NAME } from './ruleset.js';

/** How the firewall reaches nftables: the seam its tests replace. */
export interface Nft {
  /**
   * Applies `text` as one transaction (`nft -f -`). Throws NftError (stderr in the
   * message) when nft refuses it; the kernel then has not changed.
   */
  apply(text: string): Promise<void>;
  /** Checks `text` without applying it (`nft -c -f -`). Throws NftError like apply. */
  check(text: string): Promise<void>;
  /**
   * The table `ip vxnet` as nft's JSON (`nft -j list table ip vxnet`), parsed;
   * undefined when the table does not exist. Throws NftError on other failures.
   */
  listTable(): Promise<unknown>;
}

/** nft failed to run, or refused the input; `stderr` is what it said. */
export class NftError extends Error {
  constructor(message: string, readonly stderr: string, readonly exitCode: number | null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NftError';
  }
}

export interface NftCliOptions {
  /**
   * Run nft inside this network namespace (a name under /run/netns or a path), via
   * `nsenter --net=PATH --`. For tests whose agent acts on a simulated host from the
   * root namespace; the daemon runs inside its namespace and leaves this unset.
   */
  netns?: string;
  /** The nft binary (default: `nft` on PATH). */
  binary?: string;
  /** Kill nft (by its pid) after this long, ms (default 10,000). */
  timeoutMs?: number;
}

export class NftCli implements Nft {
  private readonly prefix: string[];
  private readonly binary: string;
  private readonly timeoutMs: number;

  constructor(o: NftCliOptions = {}) {
    this.binary = o.binary ?? 'nft';
    this.prefix = o.netns === undefined ? [] : [`--net=${o.netns.startsWith('/') ? o.netns : netnsPath(o.netns)}`, '--'];
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  async apply(text: string): Promise<void> {
    await this.run(['-f', '-'], text);
  }

  async check(text: string): Promise<void> {
    await this.run(['-c', '-f', '-'], text);
  }

  async listTable(): Promise<unknown> {
    try {
      return JSON.parse(await this.run(['-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME], ''));
    } catch (err) {
      // nft says "Error: No such file or directory" (ENOENT from the kernel) for an absent table
      if (err instanceof NftError && /No such file or directory/.test(err.stderr)) return undefined;
      throw err;
    }
  }

  private run(args: string[], stdin: string): Promise<string> {
    const [cmd, argv] = this.prefix.length ? ['nsenter', [...this.prefix, this.binary, ...args]] : [this.binary, args];
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) child.kill('SIGKILL');
      }, this.timeoutMs);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.stdin.on('error', () => undefined); // EPIPE when nft exits early: its exit status says why
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = e.code === 'ENOENT' ? `${cmd} not found` : e.message;
        reject(new NftError(`could not run ${cmd}: ${why}`, '', null, { cause: e }));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8').trim();
        if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
        const why = timedOut ? `timed out after ${this.timeoutMs} ms` : stderr.split('\n').slice(0, 3).join(' ') || `exit code ${code}`;
        reject(new NftError(`nft ${args.join(' ')} failed: ${why}`, stderr, code));
      });
      child.stdin.end(stdin);
    });
  }
}
