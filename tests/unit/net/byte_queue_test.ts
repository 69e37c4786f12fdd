/**
 * The pooled byte queue under SPDY streams: bytes come out in order whatever the block size and
 * the push sizes, a lent view is left alone until the next shift, and blocks are reused.
 */
import assert from "node:assert/strict";
import { BlockPool, ByteQueue } from "../../../src/net/byte_queue.ts";
import { Rng } from "../../../fuzz/rng.ts";
import { bytes } from "../../../testenv/bytes.ts";

Deno.test("byte queue: a shift returns what one block holds, in order, across blocks", () => {
  const queue = new ByteQueue(new BlockPool(4, 8));
  queue.push(bytes(1, 2, 3));
  queue.push(bytes(4, 5, 6, 7, 8, 9));
  assert.equal(queue.length, 9);
  assert.deepEqual(queue.shift(), bytes(1, 2, 3, 4));
  assert.deepEqual(queue.shift(), bytes(5, 6, 7, 8));
  assert.deepEqual(queue.shift(), bytes(9));
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.length, 0);
});

Deno.test("byte queue: pushed bytes are copied; the caller may overwrite them at once", () => {
  const queue = new ByteQueue(new BlockPool(8, 8));
  const input = bytes(1, 2, 3);
  queue.push(input);
  input.fill(0);
  assert.deepEqual(queue.shift(), bytes(1, 2, 3));
});

Deno.test("byte queue: a lent view survives later pushes; its block is reused after the next shift", () => {
  const pool = new BlockPool(4, 8);
  const queue = new ByteQueue(pool);
  queue.push(bytes(1, 2, 3, 4));
  const lent = queue.shift()!;
  queue.push(bytes(9, 9, 9, 9, 9, 9, 9, 9));
  assert.deepEqual(lent, bytes(1, 2, 3, 4), "still intact while lent");
  assert.equal(pool.idle, 0);
  queue.shift();
  assert.equal(pool.idle, 1, "the first block is back");
  queue.push(bytes(7, 7, 7, 7, 7));
  assert.deepEqual(lent, bytes(7, 7, 7, 7), "and reused by the next push");
  assert.equal(pool.created, 4, "A, B and C, then one more for the fifth byte");
});

Deno.test("byte queue: clear recycles queued blocks but not the lent one", () => {
  const pool = new BlockPool(4, 8);
  const queue = new ByteQueue(pool);
  queue.push(bytes(1, 2, 3, 4, 5, 6, 7, 8, 9));
  const lent = queue.shift()!;
  queue.clear();
  assert.equal(queue.length, 0);
  assert.equal(pool.idle, 2, "two queued blocks back, the lent one left to the GC");
  queue.push(bytes(0, 0, 0, 0, 0, 0, 0, 0));
  assert.deepEqual(lent, bytes(1, 2, 3, 4), "an abandoned write's bytes are not overwritten");
});

Deno.test("byte queue: drain copies everything out in one array", () => {
  const queue = new ByteQueue(new BlockPool(4, 8));
  queue.push(new TextEncoder().encode("port is not "));
  queue.push(new TextEncoder().encode("listening"));
  assert.equal(new TextDecoder().decode(queue.drain()), "port is not listening");
  assert.equal(queue.length, 0);
  assert.equal(queue.shift(), undefined);
});

Deno.test("byte queue: the pool keeps at most `keep` blocks of its own size", () => {
  const pool = new BlockPool(4, 2);
  const blocks = [pool.take(), pool.take(), pool.take()];
  for (const b of blocks) pool.give(b);
  assert.equal(pool.idle, 2);
  pool.give(new Uint8Array(5));
  assert.equal(pool.idle, 2);
  assert.equal(pool.take(), blocks[1], "last in, first out");
  pool.trim();
  assert.equal(pool.idle, 0);
});

Deno.test("byte queue: random pushes and shifts give back the bytes pushed, and reuse bounds allocation", () => {
  const rng = new Rng(0xb10c);
  for (let round = 0; round < 200; round++) {
    const blockSize = rng.int(64) + 1;
    const pool = new BlockPool(blockSize, 1000);
    const queue = new ByteQueue(pool);
    const pushed: number[] = [];
    const got: number[] = [];
    let next = 0;
    let mostQueued = 0;
    for (let step = 0; step < 200; step++) {
      if (rng.int(2) === 0) {
        const chunk = Array.from({ length: rng.int(3 * blockSize) }, () => next++ & 0xff);
        pushed.push(...chunk);
        queue.push(new Uint8Array(chunk));
      } else {
        const view = queue.shift();
        if (view) {
          assert.ok(view.length <= blockSize);
          got.push(...view);
        }
      }
      assert.equal(queue.length, pushed.length - got.length);
      mostQueued = Math.max(mostQueued, queue.length);
    }
    for (let view; (view = queue.shift());) got.push(...view);
    assert.deepEqual(got, pushed, `round ${round}`);
    // Only the tail block is ever part-filled, so at most this many blocks were live at once
    // (queued ones plus the lent one); with reuse that is all there ever were.
    const live = Math.floor(mostQueued / blockSize) + 2;
    assert.ok(pool.created <= live, `round ${round}: ${pool.created} blocks, ${live} live`);
  }
});
