/**
 * BodyFramer.certain: how many of the next bytes a relay may read straight into its upstream's
 * buffer. It must never reach past the body (a pipelined request follows it) nor into chunk
 * framing (which the framer has to see).
 */
import assert from "node:assert/strict";
import { BodyFramer } from "../../../../src/front/http/body.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("certain: the rest of a Content-Length body, then nothing", () => {
  const body = new BodyFramer({ kind: "length", length: 10 });
  assert.equal(body.certain, 10);
  assert.equal(body.feed(enc("abcd")), 4);
  assert.equal(body.certain, 6);
  assert.equal(body.feed(enc("efghijGET / HTTP/1.1")), 6);
  assert.equal(body.certain, 0);
  assert.ok(body.done);
});

Deno.test("certain: only the current chunk's data, never its framing", () => {
  const body = new BodyFramer({ kind: "chunked" });
  assert.equal(body.certain, 0, "in the first chunk-size line");
  assert.equal(body.feed(enc("a;ext=1\r")), 8);
  assert.equal(body.certain, 0, "before the size line's LF");
  assert.equal(body.feed(enc("\n0123")), 5);
  assert.equal(body.certain, 6, "the 6 data bytes left of 10");
  assert.equal(body.feed(enc("456789")), 6);
  assert.equal(body.certain, 0, "the CRLF after the data");
  assert.equal(body.feed(enc("\r\n3\r\nxyz\r\n")), 10);
  assert.equal(body.certain, 0);
  assert.equal(body.feed(enc("0\r\n\r\nGET")), 5);
  assert.ok(body.done);
  assert.equal(body.certain, 0);
});

Deno.test("certain: a close-delimited body has no end to reach past", () => {
  assert.equal(new BodyFramer({ kind: "close" }).certain, Infinity);
});

Deno.test("certain: a body that is empty has nothing to read", () => {
  const body = new BodyFramer({ kind: "length", length: 0 });
  assert.equal(body.certain, 0);
  assert.ok(body.done);
});
