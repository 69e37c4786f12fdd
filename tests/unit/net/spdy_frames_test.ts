/**
 * The SPDY/3.1 codec byte by byte: frames as the spec lays them out, header blocks any zlib
 * inflater reads, and the reader's answer independent of how the bytes are split.
 */
import { encodeGoAway } from "../../../testenv/spdy_peer.ts";
import assert from "node:assert/strict";
import { constants, inflateSync } from "node:zlib";
import {
  decodeSpdyFrame,
  encodeData,
  encodeHeaderBlock,
  encodePing,
  encodeRstStream,
  encodeSynStream,
  FrameType,
  type SpdyFrame,
  SpdyFrameReader,
  SpdyProtocolError,
  StoredZlib,
} from "../../../src/net/spdy_frames.ts";
import { Rng } from "../../../fuzz/rng.ts";
import { runSpdyFuzz } from "../../../fuzz/spdy.ts";
import { bytes } from "../../../testenv/bytes.ts";

/** A control frame as a server would send it (SPDY/3 section 2.2.1). */
function control(type: number, flags: number, payload: number[]): Uint8Array {
  const n = payload.length;
  return bytes(0x80, 3, 0, type, flags, n >> 16, (n >> 8) & 0xff, n & 0xff, ...payload);
}

Deno.test("spdy: SYN_STREAM, DATA, RST_STREAM, PING and GOAWAY are laid out as the spec says", () => {
  const syn = encodeSynStream(5, bytes(0xaa, 0xbb), true);
  assert.deepEqual([...syn], [
    0x80,
    3,
    0,
    1, // control, version 3, SYN_STREAM
    1,
    0,
    0,
    12, // FIN, length 10 + 2
    0,
    0,
    0,
    5, // stream id
    0,
    0,
    0,
    0, // associated stream id
    0,
    0, // priority, slot
    0xaa,
    0xbb,
  ]);
  assert.deepEqual([...encodeData(0x01020304, bytes(9), true)], [1, 2, 3, 4, 1, 0, 0, 1, 9]);
  assert.deepEqual([...encodeData(7, bytes())], [0, 0, 0, 7, 0, 0, 0, 0]);
  assert.deepEqual([...encodeRstStream(3, 5)], [0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 5]);
  assert.deepEqual([...encodePing(2)], [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 2]);
  assert.deepEqual([...encodeGoAway(9)], [0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 0]);
});

Deno.test("spdy: a header block counts its pairs and prefixes each string with its length", () => {
  assert.deepEqual([...encodeHeaderBlock([["port", "80"]])], [
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    4,
    ..."port".split("").map((c) => c.charCodeAt(0)),
    0,
    0,
    0,
    2,
    0x38,
    0x30,
  ]);
  assert.deepEqual([...encodeHeaderBlock([])], [0, 0, 0, 0]);
  assert.throws(() => encodeHeaderBlock([["Port", "80"]]), RangeError);
  assert.throws(() => encodeHeaderBlock([["", "80"]]), RangeError);
});

Deno.test("spdy: header blocks form one zlib stream that inflates block by block", () => {
  const z = new StoredZlib();
  const first = encodeHeaderBlock([["streamtype", "error"], ["port", "8080"], ["requestid", "0"]]);
  const second = encodeHeaderBlock([["streamtype", "data"], ["port", "8080"], ["requestid", "0"]]);
  const big = new Uint8Array(70_000).map((_, i) => i % 251);
  const out = [z.compress(first), z.compress(second), z.compress(big)];
  // The zlib header once, without a preset dictionary.
  assert.deepEqual([...out[0].subarray(0, 2)], [0x78, 0x01]);
  assert.equal((0x78 * 256 + 0x01) % 31, 0);
  assert.notEqual(out[1][0], 0x78);
  // Every block ends with an empty stored block: the sync flush after which inflaters hand over.
  for (const o of out) assert.deepEqual([...o.subarray(-5)], [0, 0, 0, 0xff, 0xff]);
  // Blocks over 65535 bytes are split into several stored blocks.
  assert.equal(out[2].length, 70_000 + 3 * 5);
  // Inflating the stream so far gives back exactly the blocks, at every block boundary.
  let stream = new Uint8Array(0);
  let expected: number[] = [];
  for (const [i, raw] of [first, second, big].entries()) {
    stream = new Uint8Array([...stream, ...out[i]]);
    expected = [...expected, ...raw];
    const inflated = inflateSync(stream, { finishFlush: constants.Z_SYNC_FLUSH });
    assert.deepEqual([...inflated], expected);
  }
});

Deno.test("spdy: each kind of server frame decodes; SETTINGS and unknown types are ignored", () => {
  const cases: [Uint8Array, SpdyFrame][] = [
    [encodeData(3, bytes(1, 2), true), { kind: "data", streamId: 3, fin: true, data: bytes(1, 2) }],
    [control(2, 0, [0, 0, 0, 3, 0x78, 0x01]), { kind: "synReply", streamId: 3, fin: false }],
    [control(2, 1, [0x80, 0, 0, 3]), { kind: "synReply", streamId: 3, fin: true }],
    [control(8, 1, [0, 0, 0, 5]), { kind: "headers", streamId: 5, fin: true }],
    [control(3, 0, [0, 0, 0, 3, 0, 0, 0, 5]), { kind: "rstStream", streamId: 3, status: 5 }],
    [control(6, 0, [0, 0, 0, 2]), { kind: "ping", id: 2 }],
    [control(7, 0, [0, 0, 0, 9, 0, 0, 0, 1]), { kind: "goAway", lastStreamId: 9, status: 1 }],
    [control(1, 0, [0, 0, 0, 2, 0, 0, 0, 0, 0, 0]), { kind: "synStream", streamId: 2 }],
    [control(4, 0, [0, 0, 0, 0]), { kind: "ignored", type: FrameType.settings }],
    [control(9, 0, [0, 0, 0, 1, 0, 0, 1, 0]), { kind: "ignored", type: FrameType.windowUpdate }],
    [control(0x42, 0, []), { kind: "ignored", type: 0x42 }],
  ];
  for (const [wire, frame] of cases) {
    assert.deepEqual(decodeSpdyFrame(wire, 1024), { frame, size: wire.length });
    // One byte short is "need more", never a wrong frame.
    assert.equal(decodeSpdyFrame(wire.subarray(0, wire.length - 1), 1024), undefined);
  }
});

Deno.test("spdy: malformed frames are protocol errors", () => {
  const bad = [
    bytes(0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1), // SPDY/2
    control(3, 0, [0, 0, 0, 1]), // RST_STREAM too short
    control(6, 0, [0, 0, 0, 1, 0]), // PING too long
    control(7, 0, [0, 0, 0, 1]), // GOAWAY too short
    control(2, 0, [0, 0]), // SYN_REPLY without a stream id
    control(1, 0, [0, 0, 0, 2]), // SYN_STREAM too short
    encodeData(0, bytes(1)), // DATA on stream 0
  ];
  for (const wire of bad) {
    assert.throws(() => decodeSpdyFrame(wire, 1024), SpdyProtocolError, [...wire].join(","));
    assert.throws(() => new SpdyFrameReader(1024).push(wire), SpdyProtocolError);
  }
  // A length over the limit is refused from the header alone, before the payload is buffered.
  const huge = bytes(0, 0, 0, 1, 0, 0x10, 0, 1);
  assert.throws(() => decodeSpdyFrame(huge, 1024 * 1024), /too large/);
  const reader = new SpdyFrameReader(1024 * 1024);
  assert.throws(() => reader.push(bytes(0x80, 3, 0, 2, 0, 0x20, 0, 0)), /too large/);
});

/** Frames with each stream's data joined, as a consumer sees them. */
function normalize(frames: SpdyFrame[]): unknown[] {
  const out: unknown[] = [];
  for (const f of frames) {
    const prev = out.at(-1) as { kind: string; streamId: number; data: number[]; fin: boolean };
    if (f.kind === "data" && prev?.kind === "data" && prev.streamId === f.streamId && !prev.fin) {
      prev.data.push(...f.data);
      prev.fin = f.fin;
    } else if (f.kind === "data") {
      out.push({ ...f, data: [...f.data] });
    } else {
      out.push(f);
    }
  }
  return out;
}

Deno.test("spdy: the reader gives the same frames however the bytes are split, through one reused buffer", () => {
  const rng = new Rng(0x5bd1);
  for (let round = 0; round < 300; round++) {
    const wire: number[] = [];
    const expected: SpdyFrame[] = [];
    for (let i = rng.int(8) + 1; i > 0; i--) {
      const streamId = rng.int(1000) * 2 + 1;
      switch (rng.int(4)) {
        case 0: {
          const data = new Uint8Array(rng.int(3) === 0 ? rng.int(70_000) : rng.int(20))
            .map(() => rng.int(256));
          const fin = rng.int(2) === 0;
          wire.push(...encodeData(streamId, data, fin));
          expected.push({ kind: "data", streamId, fin, data });
          break;
        }
        case 1:
          wire.push(...control(2, 0, [0, 0, streamId >> 8, streamId & 0xff, 0x78, 1, 2, 3]));
          expected.push({ kind: "synReply", streamId, fin: false });
          break;
        case 2:
          wire.push(...control(3, 0, [0, 0, streamId >> 8, streamId & 0xff, 0, 0, 0, 5]));
          expected.push({ kind: "rstStream", streamId, status: 5 });
          break;
        default:
          wire.push(...control(6, 0, [0, 0, 0, rng.int(100)]));
          expected.push({ kind: "ping", id: wire.at(-1)! });
      }
    }
    const reader = new SpdyFrameReader();
    const got: SpdyFrame[] = [];
    // As from the WebSocket client: every piece in the same buffer, overwritten by the next one,
    // so whatever the reader keeps between pushes must be its own copy.
    const shared = new Uint8Array(40_000);
    for (let off = 0; off < wire.length;) {
      const n = Math.min(wire.length - off, rng.int(3) === 0 ? rng.int(9) : rng.int(40_000) + 1);
      shared.set(wire.slice(off, off + n));
      for (const f of reader.push(shared.subarray(0, n))) {
        got.push(f.kind === "data" ? { ...f, data: f.data.slice() } : f);
      }
      shared.fill(0xee);
      off += n;
    }
    assert.equal(reader.buffered, 0);
    assert.deepEqual(normalize(got), normalize(expected), `round ${round}`);
  }
});

Deno.test("spdy: a DATA frame's payload is passed on as it arrives, before the frame is complete", () => {
  const reader = new SpdyFrameReader();
  const wire = encodeData(3, new Uint8Array(1000).fill(7), true);
  const first = reader.push(wire.subarray(0, 108));
  assert.deepEqual(first.map((f) => f.kind === "data" && [f.data.length, f.fin]), [[100, false]]);
  const rest = reader.push(wire.subarray(108));
  assert.deepEqual(rest.map((f) => f.kind === "data" && [f.data.length, f.fin]), [[900, true]]);
  // An empty DATA frame with FIN still comes out (the end of a stream).
  assert.deepEqual(reader.push(encodeData(5, bytes(), true)), [
    { kind: "data", streamId: 5, fin: true, data: bytes() },
  ]);
});

Deno.test("spdy: 2000 fuzz iterations of random and mutated server bytes break no property", () => {
  const { iterations, failures } = runSpdyFuzz(0x5eed, 2000);
  assert.equal(iterations, 2000);
  assert.deepEqual(failures.map((f) => f.property), []);
});
