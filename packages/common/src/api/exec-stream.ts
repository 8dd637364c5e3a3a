/**
 * Frames of the exec stream (the format is documented with ExecRequest in engine.ts):
 * a 1-byte type, a 4-byte big-endian payload length, the payload.
 */
export const Frame = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  exit: 3,
  stdinEof: 4,
  resize: 5,
  signal: 6,
  /** engine -> client, attach only: the detach keys were typed; the engine closes the connection, the container goes on. */
  detached: 7,
} as const;
export type FrameType = (typeof Frame)[keyof typeof Frame];

export const FRAME_HEADER = 5;
/** Larger payloads are a protocol error (a writer splits its data). */
export const MAX_FRAME_PAYLOAD = 1 << 20;

export interface DecodedFrame {
  type: number;
  payload: Buffer;
}

export function encodeFrame(type: FrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(FRAME_HEADER);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Frames for `data`, each at most MAX_FRAME_PAYLOAD long. */
export function encodeData(type: FrameType, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += MAX_FRAME_PAYLOAD) out.push(encodeFrame(type, data.subarray(at, at + MAX_FRAME_PAYLOAD)));
  return out;
}

export function encodeResize(rows: number, cols: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt16BE(clampSize(rows), 0);
  p.writeUInt16BE(clampSize(cols), 2);
  return encodeFrame(Frame.resize, p);
}

export function decodeResize(payload: Buffer): { rows: number; cols: number } | undefined {
  if (payload.length !== 4) return undefined;
  return { rows: payload.readUInt16BE(0), cols: payload.readUInt16BE(2) };
}

function clampSize(n: number): number {
  return Math.max(0, Math.min(0xffff, Math.trunc(n) || 0));
}

/** Splits a byte stream into frames; throws on a payload over MAX_FRAME_PAYLOAD. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /** Feed bytes; returns the frames they complete, in order. */
  push(chunk: Buffer): DecodedFrame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: DecodedFrame[] = [];
    while (this.buf.length >= FRAME_HEADER) {
      const len = this.buf.readUInt32BE(1);
      if (len > MAX_FRAME_PAYLOAD) throw new Error(`exec stream: frame of ${len} bytes (at most ${MAX_FRAME_PAYLOAD})`);
      if (this.buf.length < FRAME_HEADER + len) break;
      frames.push({ type: this.buf.readUInt8(0), payload: this.buf.subarray(FRAME_HEADER, FRAME_HEADER + len) });
      this.buf = this.buf.subarray(FRAME_HEADER + len);
    }
    return frames;
  }
}
