/**
 * A head that arrives one byte at a time costs parsing work linear in its length, through the
 * same read loop shape as the proxy's drivers (a BufferedReader for requests, the forwarder's
 * UpstreamReader for responses): the parser goes on from where it stopped instead of starting
 * over on every read (which cost tens of seconds of CPU for one 30 KB head).
 */
import assert from "node:assert/strict";
import { BufferedReader } from "../../../../src/net/buffered_reader.ts";
import { requestHeadParser, responseHeadParser } from "../../../../src/front/http/head.ts";
import { UpstreamReader } from "../../../../src/front/http/forward.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Many long fields: the shape that made re-parsing from the start most expensive. */
function bigHead(startLine: string): Uint8Array {
  const fields = Array.from({ length: 99 }, (_, i) => `X-${i}: ${"v".repeat(300)}\r\n`).join("");
  return enc(`${startLine}\r\n${fields}\r\n`);
}

/** Hands out `bytes` one at a time, as a client writing a byte per packet would. */
function trickle(bytes: Uint8Array) {
  let at = 0;
  return {
    reads: 0,
    read(into: Uint8Array): Promise<number | null> {
      this.reads++;
      if (at >= bytes.length) return Promise.resolve(null);
      into[0] = bytes[at++];
      return Promise.resolve(1);
    },
  };
}

Deno.test("head parsing: a request head sent a byte at a time is parsed in work linear in its length", async () => {
  const head = bigHead("GET http://web.demo/ HTTP/1.1");
  const source = trickle(head);
  const reader = new BufferedReader(source, 1024, 64 * 1024);
  const parser = requestHeadParser();
  let r;
  while ((r = parser.parse(reader.bytes)).status === "more") {
    assert.ok(await reader.readMore());
  }
  assert.equal(r.status, "done");
  assert.equal(r.status === "done" && r.consumed, head.length);
  assert.equal(source.reads, head.length);
  // Each byte examined about once (the CRs of incomplete lines twice), not once per read.
  assert.ok(parser.work <= head.length + 200, `${parser.work} steps for ${head.length} bytes`);
});

Deno.test("head parsing: a response head sent a byte at a time is parsed in work linear in its length", async () => {
  const head = bigHead("HTTP/1.1 200 OK");
  let at = 0;
  const reader = new UpstreamReader({
    read: () => Promise.resolve(at < head.length ? head.subarray(at, ++at) : null),
  });
  const parser = responseHeadParser();
  let r;
  while ((r = parser.parse(reader.pending)).status === "more") assert.ok(await reader.fetch());
  assert.equal(r.status, "done");
  assert.equal(r.status === "done" && r.consumed, head.length);
  assert.ok(parser.work <= head.length + 200, `${parser.work} steps for ${head.length} bytes`);
});

Deno.test("head parsing: fed in any pieces, the incremental parser answers as one parse of the whole", () => {
  const text = "GET http://w/ HTTP/1.1\r\nA: 1\r\nB:  2 \r\n\r\nrest";
  const whole = requestHeadParser().parse(enc(text));
  for (const piece of [1, 2, 3, 5, 8, 13]) {
    const p = requestHeadParser();
    let r;
    for (let n = piece;; n += piece) {
      r = p.parse(enc(text.slice(0, n)));
      if (r.status !== "more") break;
    }
    assert.deepEqual(r, whole, `pieces of ${piece}`);
  }
});
