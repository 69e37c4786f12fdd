/**
 * src/kube/wire_reader.ts against protobufjs, which read the API server's protobuf before: the
 * values protobufjs's Writer encodes read back the same by both readers, and every cut of an
 * encoding either reads the same or throws RangeError, byte by byte.
 */
import assert from "node:assert/strict";
import pb from "protobufjs/minimal";
import { FIXED32, FIXED64, LEN, VARINT, WireReader } from "../../../src/kube/wire_reader.ts";
import { Rng } from "../../../fuzz/rng.ts";

type Field = { wire: number; write: (w: pb.Writer) => void; value?: unknown };

/** Fields of every wire type with values near the varint length boundaries. */
function fields(count: number, seed: number): Field[] {
  const rng = new Rng(seed);
  const next = () => rng.next() / 0x1_0000_0000;
  const edges = [0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31 - 1];
  const out: Field[] = [];
  for (let i = 0; i < count; i++) {
    const pick = Math.floor(next() * 6);
    const n = next() < 0.5
      ? edges[Math.floor(next() * edges.length)]
      : Math.floor(next() * 2 ** 32);
    if (pick === 0) out.push({ wire: VARINT, write: (w) => w.uint32(n), value: n >>> 0 });
    else if (pick === 1) {
      const v = (n | 0) - (next() < 0.5 ? 0 : 2 ** 31);
      out.push({ wire: VARINT, write: (w) => w.int32(v | 0), value: v | 0 });
    } else if (pick === 2) {
      const bytes = Uint8Array.from({ length: Math.floor(next() * 300) }, () => next() * 256);
      out.push({ wire: LEN, write: (w) => w.bytes(bytes), value: bytes });
    } else if (pick === 3) out.push({ wire: FIXED64, write: (w) => w.fixed64(n) });
    else if (pick === 4) out.push({ wire: FIXED32, write: (w) => w.fixed32(n) });
    else out.push({ wire: VARINT, write: (w) => w.bool(n % 2 === 1), value: n % 2 === 1 });
  }
  return out;
}

function encode(f: Field): Uint8Array {
  const w = pb.Writer.create();
  f.write(w);
  return w.finish();
}

/** Reads one field's value the way its encoding says, with either reader. */
function read(r: WireReader | pb.Reader, f: Field): unknown {
  if (f.value === undefined) {
    r.skipType(f.wire);
    return r.pos;
  }
  if (typeof f.value === "boolean") return r.bool();
  if (f.value instanceof Uint8Array) return [...r.bytes()];
  return typeof f.value === "number" && f.value < 0 ? r.int32() : r.uint32();
}

Deno.test("wire reader: what protobufjs writes reads back as protobufjs reads it", () => {
  for (const f of fields(5000, 3)) {
    const bytes = encode(f);
    const ours = new WireReader(bytes);
    const theirs = pb.Reader.create(bytes);
    const got = read(ours, f);
    assert.deepEqual(got, read(theirs, f), `${f.wire}: ${[...bytes]}`);
    if (f.value !== undefined) {
      assert.deepEqual(got, f.value instanceof Uint8Array ? [...f.value] : f.value);
    }
    assert.equal(ours.pos, bytes.length, "the whole field is read");
  }
});

Deno.test("wire reader: every cut of an encoding throws RangeError, never reads past the end", () => {
  for (const f of fields(1500, 11)) {
    const bytes = encode(f);
    for (let cut = 0; cut < bytes.length; cut++) {
      const r = new WireReader(bytes.subarray(0, cut));
      assert.throws(() => read(r, f), RangeError, `cut at ${cut} of ${[...bytes]}`);
      assert.ok(r.pos <= cut, `read to ${r.pos} of ${cut}`);
    }
  }
});

Deno.test("wire reader: a varint of more than 10 bytes and groups are refused", () => {
  const long = new WireReader(new Uint8Array(11).fill(0x80));
  assert.throws(() => long.uint32(), /longer than 10 bytes/);
  for (const wire of [3, 4, 6, 7]) {
    assert.throws(() => new WireReader(new Uint8Array(4)).skipType(wire), /wire type/);
  }
  // A 10-byte varint (a negative int32) keeps its low 32 bits.
  const minusOne = new WireReader(Uint8Array.of(...new Array(9).fill(0xff), 0x01));
  assert.equal(minusOne.int32(), -1);
  assert.equal(minusOne.pos, 10);
});
