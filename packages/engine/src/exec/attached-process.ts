/**
 * What an exec session drives, whichever way runc started the process: pipes
 * (pipe-process.ts) or a pseudo-terminal (tty-process.ts).
 */
import type { FrameType } from '@vxnet/common/api';

/** Where a process's output goes: one frame per chunk. Returns false when the client is not keeping up. */
export type OutputSink = (type: FrameType, data: Buffer) => boolean;

export interface AttachedProcess {
  /** The process's pid in our pid namespace (it leads its process group); undefined until runc has started it or once it was reaped. */
  pid(): number | undefined;
  /** Bytes for its stdin (or its terminal). Ignored once the input is closed. */
  write(data: Buffer): void;
  /** Close its stdin (pipes; a terminal has no end of input: ignored). */
  endInput(): void;
  /** Set the terminal's size in characters (TTY only; ignored otherwise). */
  resize(rows: number, cols: number): void;
  /** Stop reading output until resumeOutput() (the client is not keeping up). */
  pauseOutput(): void;
  resumeOutput(): void;
  /** Resolves with the exit code (128+N after signal N) once the process has ended and its output has been sent. */
  readonly done: Promise<number>;
}
