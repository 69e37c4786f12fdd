/**
 * Protobuf's wire format read from untrusted bytes: varints, length-delimited fields and skipping
 * what is not read, the part of protobufjs's `Reader` that protobuf.ts used. Every read checks
 * its bounds and throws RangeError past the end; a varint longer than 10 bytes is refused.
 *
 * Written here rather than imported because protobufjs reads `global.process` and
 * `global.Buffer` when it loads, to choose between Node's Buffer and Uint8Array, and under Deno
 * either one loads the Node compatibility layer: ~4 MB and ~10 ms on every `connect`
 * (docs/performance-startup.md). @bufbuild/protobuf's reader checks `process.env` the same way.
 * tests/unit/kube/wire_reader_test.ts reads protobufjs's encodings back byte for byte.
 * @module
 */

/** Wire types: varint, 64-bit, length-delimited, (groups: 3, 4), 32-bit. */
export const VARINT = 0, FIXED64 = 1, LEN = 2, FIXED32 = 5;

export class WireReader {
  pos = 0;
  readonly len: number;

  constructor(readonly buf: Uint8Array) {
    this.len = buf.length;
  }

  /** A varint's low 32 bits, unsigned (a negative int32 is sent as 10 bytes). */
  uint32(): number {
    let value = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.len) throw new RangeError(`a varint runs past the end at ${this.pos}`);
      const b = this.buf[this.pos++];
      if (i < 5) value = (value | ((b & 0x7f) << (7 * i))) >>> 0;
      if (b < 0x80) return value;
    }
    throw new RangeError(`a varint longer than 10 bytes at ${this.pos}`);
  }

  /** A varint as a signed 32-bit number. */
  int32(): number {
    return this.uint32() | 0;
  }

  bool(): boolean {
    return this.uint32() !== 0;
  }

  /** A length-delimited field's bytes (a view of the buffer, not a copy). */
  bytes(): Uint8Array {
    const length = this.uint32();
    const end = this.pos + length;
    if (end > this.len) throw new RangeError(`${length} bytes run past the end at ${this.pos}`);
    const value = this.buf.subarray(this.pos, end);
    this.pos = end;
    return value;
  }

  /** Skips one field's value of wire type `wire`. Groups (3, 4) and unknown types throw. */
  skipType(wire: number): void {
    switch (wire) {
      case VARINT:
        this.uint32();
        return;
      case FIXED64:
        return this.#skip(8);
      case LEN:
        return this.#skip(this.uint32());
      case FIXED32:
        return this.#skip(4);
      default:
        throw new RangeError(`wire type ${wire} at ${this.pos}`);
    }
  }

  #skip(n: number): void {
    if (this.pos + n > this.len) throw new RangeError(`${n} bytes run past the end at ${this.pos}`);
    this.pos += n;
  }
}
