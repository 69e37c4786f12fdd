/** The bulk servers' stream: any slice is the same bytes, seeds differ, a swapped block is seen. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  streamBytes,
  StreamCheck,
  streamChunks,
  streamDigest,
} from "../../../testenv/bulk_stream.ts";

Deno.test("bulk stream: a slice at any offset is the same bytes as the whole", async () => {
  const whole = await streamBytes("GET 100000 a", 0, 100_000);
  for (const [offset, length] of [[0, 1], [5, 100], [16, 16], [33_333, 44_444], [99_999, 1]]) {
    assert.deepEqual(
      await streamBytes("GET 100000 a", offset, length),
      whole.subarray(offset, offset + length),
    );
  }
  const parts: Uint8Array[] = [];
  for await (const c of streamChunks("GET 100000 a", 100_000, 7000)) parts.push(c);
  assert.deepEqual(new Uint8Array(parts.flatMap((p) => [...p])), whole);
});

Deno.test("bulk stream: seeds name different streams; no byte repeats in blocks", async () => {
  const a = await streamBytes("GET 4096 a", 0, 4096);
  const b = await streamBytes("GET 4096 b", 0, 4096);
  assert.notDeepEqual(a, b);
  const blocks = new Set<string>();
  for (let i = 0; i < a.length; i += 32) blocks.add(a.subarray(i, i + 32).join());
  assert.equal(blocks.size, 4096 / 32, "every 32-byte block differs");
});

Deno.test("bulk stream: the digest is the SHA-256 of the bytes; a check finds a swapped block", async () => {
  const seed = "PUT 200000 t";
  const bytes = await streamBytes(seed, 0, 200_000);
  assert.equal(
    await streamDigest(seed, 200_000),
    createHash("sha256").update(bytes).digest("hex"),
  );
  const good = new StreamCheck(seed);
  await good.push(bytes.subarray(0, 1000));
  await good.push(bytes.subarray(1000));
  assert.equal(good.result().firstDifference, undefined);
  // Two 32 KiB blocks swapped: same bytes, same count, wrong order.
  const swapped = bytes.slice();
  swapped.set(bytes.subarray(32_768, 65_536), 0);
  swapped.set(bytes.subarray(0, 32_768), 32_768);
  const bad = new StreamCheck(seed);
  await bad.push(swapped);
  const r = bad.result();
  assert.equal(r.bytes, 200_000);
  assert.equal(r.firstDifference, 0);
  assert.notEqual(r.sha256, await streamDigest(seed, 200_000));
});
