/**
 * Detach keys of `attach` and `run -it` (docker's `--detach-keys`): a sequence that,
 * typed into an attached terminal, leaves it without ending the container. Written as
 * docker writes them: comma-separated keys, each a single character or `ctrl-X` (X one
 * of a-z @ [ \ ] ^ _). Default: ctrl-p,ctrl-q.
 */

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** The bytes of a detach key sequence. Throws an Error saying what is wrong. */
export function parseDetachKeys(text: string): Buffer {
  if (text === '') throw new Error('the sequence is empty');
  const bytes: number[] = [];
  for (const key of text.split(',')) {
    const k = key.trim();
    if (k.length === 1) bytes.push(k.charCodeAt(0));
    else if (/^ctrl-[a-z@[\\\]^_]$/i.test(k)) {
      const c = k.slice(5).toLowerCase();
      bytes.push(/[a-z]/.test(c) ? c.charCodeAt(0) - 96 : '@[\\]^_'.indexOf(c) + (c === '@' ? 0 : 26));
    } else throw new Error(`"${k}" is not a key (a character, or ctrl-a … ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_)`);
  }
  return Buffer.from(bytes);
}

/**
 * Finds a detach sequence in typed input, as docker's escape proxy: bytes that may
 * start the sequence are held back; once it is complete `push` says so (the held bytes
 * are dropped), and when it is broken they go on with the input.
 */
export class DetachMatcher {
  private held = 0;

  constructor(private readonly keys: Buffer) {}

  /** The bytes of `data` to pass on, and whether the sequence was completed (what follows it is dropped). */
  push(data: Buffer): { pass: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of data) {
      if (b === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) {
          this.held = 0;
          return { pass: Buffer.from(out), detach: true };
        }
        continue;
      }
      for (let i = 0; i < this.held; i++) out.push(this.keys[i] as number);
      this.held = 0;
      if (b === this.keys[0]) this.held = 1;
      else out.push(b);
    }
    return { pass: Buffer.from(out), detach: false };
  }
}
