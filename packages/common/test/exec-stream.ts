/** The exec frame codec: frames split anywhere come out whole and in order; oversized frames are refused. */
import t from 'tap';
import { Frame, FrameDecoder, MAX_FRAME_PAYLOAD, decodeResize, encodeData, encodeFrame, encodeResize } from '../src/api/exec-stream.js';

t.test('frames survive any split of the byte stream', async (t) => {
  const bytes = Buffer.concat([encodeFrame(Frame.stdout, 'out'), encodeFrame(Frame.stdinEof), encodeResize(33, 111), encodeFrame(Frame.exit, '{"exitCode":3}')]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new FrameDecoder();
    const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
    t.same(frames.map((f) => [f.type, f.payload.toString('hex')]), [
      [Frame.stdout, Buffer.from('out').toString('hex')], [Frame.stdinEof, ''], [Frame.resize, '0021006f'], [Frame.exit, Buffer.from('{"exitCode":3}').toString('hex')],
    ], `cut at ${cut}`);
  }
  t.same(decodeResize(Buffer.from('0021006f', 'hex')), { rows: 33, cols: 111 });
  t.equal(decodeResize(Buffer.alloc(3)), undefined, 'a resize payload is 4 bytes');
});

t.test('large data is split into frames of at most MAX_FRAME_PAYLOAD; larger frames are refused', async (t) => {
  const data = Buffer.alloc(MAX_FRAME_PAYLOAD * 2 + 5, 7);
  const frames = encodeData(Frame.stdin, data);
  t.same(frames.map((f) => f.length - 5), [MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD, 5]);
  const d = new FrameDecoder();
  t.same(Buffer.concat(frames.flatMap((f) => d.push(f)).map((f) => f.payload)).equals(data), true, 'reassembled');
  const huge = Buffer.alloc(5);
  huge.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 1);
  t.throws(() => new FrameDecoder().push(huge), /at most/);
});
