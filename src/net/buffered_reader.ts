/**
 * Bytes read from a connection but not yet used: what a protocol parser looks at before it knows
 * where a message ends. It starts small and grows on demand up to a limit, because most
 * connections need only a few hundred bytes of it and a proxy holds thousands of them.
 * @module
 */

export interface ByteSource {
  read(into: Uint8Array): Promise<number | null>;
}

export class BufferedReader {
  #buf: Uint8Array;
  #start = 0;
  #end = 0;

  constructor(readonly source: ByteSource, initial = 4096, readonly max = 64 * 1024) {
    this.#buf = new Uint8Array(Math.min(initial, max));
  }

  /** The unconsumed bytes, valid until the next read or consume. */
  get bytes(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  get length(): number {
    return this.#end - this.#start;
  }

  /** Whether the buffer holds `max` unconsumed bytes, so reading more is impossible. */
  get full(): boolean {
    return this.length >= this.max;
  }

  consume(n: number): void {
    if (n < 0 || n > this.length) throw new RangeError(`consume(${n}) of ${this.length}`);
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Reads once into free space; false at end of stream. Throws RangeError when full. */
  async readMore(): Promise<boolean> {
    if (this.full) throw new RangeError(`more than ${this.max} bytes buffered`);
    if (this.#end === this.#buf.length) this.#makeRoom();
    const n = await this.source.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /** Reads until at least `n` bytes are held (n ≤ max); false if the stream ended first. */
  async fill(n: number): Promise<boolean> {
    while (this.length < n) {
      if (!(await this.readMore())) return false;
    }
    return true;
  }

  /** A copy of the unconsumed bytes, which are then consumed. */
  take(): Uint8Array {
    const out = this.bytes.slice();
    this.consume(out.length);
    return out;
  }

  #makeRoom(): void {
    const held = this.length;
    if (this.#start > 0 && held < this.#buf.length / 2) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      const grown = new Uint8Array(Math.min(this.max, this.#buf.length * 2));
      grown.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = grown;
    }
    this.#start = 0;
    this.#end = held;
  }
}
