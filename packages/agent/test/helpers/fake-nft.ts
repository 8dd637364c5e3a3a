/**
 * nft over a string, for tests of the firewall and the agent: the applied table is
 * kept as text (what the kernel would hold), listings answer one object per line
 * with fresh handles each time (so only real edits look like drift), and a check
 * or apply can be made to fail.
 */
import { NftError, type Nft } from '../../src/firewall/index.js';

export class FakeNft implements Nft {
  /** The table as applied (the text after the create-and-delete preamble), or undefined when absent. */
  table: string | undefined;
  readonly calls: string[] = [];
  /** Make every apply fail with this stderr, until cleared. */
  failApply: string | undefined;
  /** Make every check fail with this message, until cleared. */
  failCheck: string | undefined;
  private handles = 0;

  async apply(text: string): Promise<void> {
    this.calls.push('apply');
    if (this.failApply) throw new NftError(`nft -f - failed: ${this.failApply}`, this.failApply, 1);
    this.table = text.split('\n').slice(2).join('\n');
  }

  async check(): Promise<void> {
    this.calls.push('check');
    if (this.failCheck) throw new NftError(this.failCheck, this.failCheck, null);
  }

  async listTable(): Promise<unknown> {
    this.calls.push('list');
    if (this.table === undefined) return undefined;
    return {
      nftables: [
        { metainfo: { version: '1.0.6' } },
        ...this.table.split('\n').filter((l) => l.trim()).map((line) => ({ line: { text: line.trim(), handle: ++this.handles } })),
      ],
    };
  }
}
