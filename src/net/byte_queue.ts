/**
 * Bytes waiting for a reader, held in fixed-size blocks that are reused instead of allocated.
 *
 * Why: a port-forward download arrives as tens of thousands of WebSocket messages a second. One
 * fresh ArrayBuffer per message is garbage a moment later, but V8 only collects memory outside
 * its heap after tens of megabytes of it have piled up; under 200 downloads that pile was most of
 * ktctl's peak RSS. Copying each message into a block that comes back once the reader is done
 * with it costs a memcpy and keeps memory at what is really queued.
 *
 * @example
 * ```ts
 * const pool = new BlockPool(4, 8);
 * const queue = new ByteQueue(pool);
 * queue.push(new Uint8Array([1, 2, 3, 4, 5, 6]));
 * queue.shift(); // Uint8Array [1, 2, 3, 4]: valid until the next shift() or release()
 * queue.shift(); // Uint8Array [5, 6]; the first block is back in the pool
 * ```
 * @module
 */

/**
 * Blocks of one size, kept for reuse up to `keep` of them; beyond that the GC takes them. The
 * cap is well above what the session limits let be queued at once (2 MiB per session, plus a
 * block or two per stream), so a busy ktctl does not drop blocks only to allocate them again.
 */
export class BlockPool {
  #free: Uint8Array[] = [];
  #created = 0;

  constructor(readonly blockSize = 32 * 1024, readonly keep = 1024) {}

  take(): Uint8Array {
    const block = this.#free.pop();
    if (block) return block;
    this.#created++;
    return new Uint8Array(this.blockSize);
  }

  give(block: Uint8Array): void {
    if (block.length === this.blockSize && this.#free.length < this.keep) this.#free.push(block);
  }

  /** Blocks waiting to be reused. */
  get idle(): number {
    return this.#free.length;
  }

  /** Blocks allocated so far: flat while reuse keeps up. */
  get created(): number {
    return this.#created;
  }

  /** Lets the GC have the idle blocks (after a burst, when nothing is queued any more). */
  trim(): void {
    this.#free = [];
  }
}

/** The blocks all port-forward streams share: 32 MiB kept at most. */
export const sharedBlocks: BlockPool = new BlockPool();

/** A block and how much of it is filled (from its start: a shift takes a whole block). */
interface Filled {
  block: Uint8Array;
  end: number;
}

/** A FIFO of bytes in pooled blocks. Not for concurrent readers. */
export class ByteQueue {
  #blocks: Filled[] = [];
  #lent: Uint8Array | undefined;
  #length = 0;

  constructor(readonly pool: BlockPool = sharedBlocks) {}

  /** Bytes queued and not yet shifted. */
  get length(): number {
    return this.#length;
  }

  /** Copies `bytes` in: the caller may reuse them as soon as this returns. */
  push(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      let tail = this.#blocks.at(-1);
      if (!tail || tail.end === tail.block.length) {
        tail = { block: this.pool.take(), end: 0 };
        this.#blocks.push(tail);
      }
      const n = Math.min(bytes.length - off, tail.block.length - tail.end);
      tail.block.set(bytes.subarray(off, off + n), tail.end);
      tail.end += n;
      off += n;
    }
    this.#length += bytes.length;
  }

  /**
   * The oldest queued bytes, at most one block of them, or undefined when empty. The view is
   * lent: it stays valid until the next shift() or release(), then its block is reused.
   */
  shift(): Uint8Array | undefined {
    this.release();
    const head = this.#blocks.shift();
    if (!head) return undefined;
    this.#lent = head.block;
    this.#length -= head.end;
    return head.block.subarray(0, head.end);
  }

  /** Hands the block of the last shift() back to the pool: its view must no longer be used. */
  release(): void {
    if (this.#lent) this.pool.give(this.#lent);
    this.#lent = undefined;
  }

  /** Copies every queued byte out into one new array and empties the queue. */
  drain(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let off = 0;
    for (const { block, end } of this.#blocks) {
      out.set(block.subarray(0, end), off);
      off += end;
    }
    this.clear();
    return out;
  }

  /**
   * Empties the queue. The last lent view is left alone (its block is not reused), since it may
   * still be in use by a write that is being abandoned.
   */
  clear(): void {
    for (const { block } of this.#blocks) this.pool.give(block);
    this.#blocks = [];
    this.#lent = undefined;
    this.#length = 0;
  }
}
