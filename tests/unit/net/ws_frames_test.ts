import assert from "node:assert/strict";
import {
  clientFrameSize,
  decodeFrame,
  encodeClientFrame,
  FrameError,
  Opcode,
  writeClientFrame,
} from "../../../src/net/ws_frames.ts";

const mask = new Uint8Array([1, 2, 3, 4]);

Deno.test("ws frames: client frames are masked, with 7-, 16- and 64-bit lengths", () => {
  const small = encodeClientFrame(Opcode.binary, new Uint8Array([10, 20, 30]), mask);
  assert.deepEqual([...small], [0x82, 0x83, 1, 2, 3, 4, 10 ^ 1, 20 ^ 2, 30 ^ 3]);
  const mid = encodeClientFrame(Opcode.binary, new Uint8Array(300), mask);
  assert.deepEqual([...mid.subarray(0, 4)], [0x82, 0x80 | 126, 1, 44]);
  assert.equal(mid.length, 4 + 4 + 300);
  const big = encodeClientFrame(Opcode.binary, new Uint8Array(70_000), mask);
  assert.deepEqual([...big.subarray(0, 10)], [0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
});

Deno.test("ws frames: a frame written into a reused buffer at any offset is the encoded frame", () => {
  const scratch = new Uint8Array(80_000);
  for (const n of [0, 3, 125, 126, 65535, 65536, 70_000]) {
    const payload = new Uint8Array(n).map((_, i) => i * 31);
    const expected = encodeClientFrame(Opcode.binary, payload, mask);
    for (const offset of [0, 1, 3, 6]) {
      scratch.fill(0xee);
      const out = scratch.subarray(offset);
      const size = writeClientFrame(out, Opcode.binary, payload, mask);
      assert.equal(size, clientFrameSize(n));
      assert.deepEqual(out.subarray(0, size), expected, `length ${n} at offset ${offset}`);
      assert.equal(out[size], 0xee, "nothing written past the frame");
    }
  }
  assert.throws(() => writeClientFrame(new Uint8Array(8), Opcode.binary, new Uint8Array(3), mask));
});

Deno.test("ws frames: a payload in parts makes the same frame as the joined payload", () => {
  const whole = new Uint8Array(70_001).map((_, i) => i * 7);
  const parts = [
    whole.subarray(0, 1),
    whole.subarray(1, 1),
    whole.subarray(1, 65_537),
    whole.subarray(65_537),
  ];
  const out = new Uint8Array(clientFrameSize(whole.length));
  assert.equal(writeClientFrame(out, Opcode.binary, parts, mask), out.length);
  assert.deepEqual(out, encodeClientFrame(Opcode.binary, whole, mask));
});

/** The masking of RFC 6455 section 5.3 spelled out byte by byte, to compare against. */
function referenceMasked(payload: Uint8Array, mask: Uint8Array): number[] {
  return Array.from(payload, (b, i) => b ^ mask[i & 3]);
}

Deno.test("ws frames: masking matches the byte-by-byte reference for any length and alignment", () => {
  // A fixed-seed generator, so that a failure names a case that can be replayed.
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const lengths = [
    ...Array.from({ length: 71 }, (_, i) => i),
    125,
    126,
    127,
    128,
    1000,
    1001,
    65535,
    65536,
    65537,
    70_003,
  ];
  for (const n of lengths) {
    for (const offset of [0, 1, 2, 3, 5]) {
      const backing = new Uint8Array(offset + n + 3);
      for (let i = 0; i < backing.length; i++) backing[i] = next() & 0xff;
      const payload = backing.subarray(offset, offset + n);
      const before = backing.slice();
      const m = new Uint8Array(4);
      new DataView(m.buffer).setUint32(0, next());
      const frame = encodeClientFrame(Opcode.binary, payload, m);
      const what = `length ${n}, byteOffset ${offset}, mask ${[...m]}`;
      const header = n < 126 ? 2 : n < 65536 ? 4 : 10;
      assert.equal(frame.length, header + 4 + n, what);
      assert.deepEqual([...frame.subarray(header, header + 4)], [...m], what);
      assert.deepEqual([...frame.subarray(header + 4)], referenceMasked(payload, m), what);
      assert.deepEqual(backing, before, `payload changed: ${what}`);
    }
  }
});

Deno.test("ws frames: server frames decode only when complete", () => {
  const frame = new Uint8Array([0x82, 3, 7, 8, 9, 0xff]);
  for (let n = 0; n < 5; n++) assert.equal(decodeFrame(frame.subarray(0, n), 1024), undefined);
  const r = decodeFrame(frame, 1024)!;
  assert.equal(r.size, 5);
  assert.deepEqual([...r.frame.payload], [7, 8, 9]);
  assert.equal(r.frame.fin, true);
  assert.equal(r.frame.opcode, Opcode.binary);
  const ext = new Uint8Array([0x02, 126, 1, 0, ...new Uint8Array(256)]);
  assert.equal(decodeFrame(ext, 1024)!.frame.payload.length, 256);
  assert.equal(decodeFrame(ext, 1024)!.frame.fin, false);
});

Deno.test("ws frames: protocol violations and oversized frames are errors", () => {
  const bad = [
    [0x82 | 0x40, 0], // reserved bit
    [0x83, 0], // unknown opcode
    [0x82, 0x81, 0, 0, 0, 0, 0], // masked server frame
    [0x09, 0], // fragmented ping
    [0x89, 126, 0, 200], // control frame over 125 bytes
  ];
  for (const b of bad) assert.throws(() => decodeFrame(new Uint8Array(b), 1024), FrameError);
  assert.throws(() => decodeFrame(new Uint8Array([0x82, 126, 8, 0]), 1024), /too large/);
  const huge = new Uint8Array([0x82, 127, 0x7f, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => decodeFrame(huge, 1024), /too large/);
});
