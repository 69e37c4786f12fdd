/**
 * The v4.channel.k8s.io port-forward framing: port prefixes, data, errors, and client frames.
 */
import assert from "node:assert/strict";
import {
  DATA_CHANNEL,
  ERROR_CHANNEL,
  PORT_FORWARD_PROTOCOLS,
  PortForwardDecoder,
  ProtocolError,
} from "../../../src/portforward/channel_frames.ts";

const u8 = (...b: number[]) => new Uint8Array(b);
const text = (s: string) => new TextEncoder().encode(s);

Deno.test("frames: constants match the protocol", () => {
  assert.equal(DATA_CHANNEL, 0);
  assert.equal(ERROR_CHANNEL, 1);
  assert.deepEqual(PORT_FORWARD_PROTOCOLS, ["v4.channel.k8s.io"]);
});

Deno.test("frames: the port prefix on both channels yields port events and no data", () => {
  const d = new PortForwardDecoder();
  assert.deepEqual(d.push(u8(0x00, 0x90, 0x1f)), [{ kind: "port", channel: 0, port: 8080 }]);
  assert.deepEqual(d.push(u8(0x01, 0x90, 0x1f)), [{ kind: "port", channel: 1, port: 8080 }]);
  // Afterwards the same bytes are data.
  assert.deepEqual(d.push(u8(0x00, 0x90, 0x1f)), [{ kind: "data", bytes: u8(0x90, 0x1f) }]);
});

Deno.test("frames: the port is little-endian", () => {
  for (const [lo, hi, port] of [[0x50, 0x00, 80], [0x00, 0x01, 256], [0xff, 0xff, 65535]]) {
    const d = new PortForwardDecoder();
    assert.deepEqual(d.push(u8(0, lo, hi)), [{ kind: "port", channel: 0, port }]);
  }
});

Deno.test("frames: a prefix split across two messages", () => {
  const d = new PortForwardDecoder();
  assert.deepEqual(d.push(u8(0x00, 0x90)), []);
  // A message on the other channel in between does not disturb the pending half.
  assert.deepEqual(d.push(u8(0x01, 0x50)), []);
  assert.deepEqual(d.push(u8(0x00, 0x1f)), [{ kind: "port", channel: 0, port: 8080 }]);
  assert.deepEqual(d.push(u8(0x01, 0x00)), [{ kind: "port", channel: 1, port: 80 }]);
  // A message holding only the channel byte carries nothing and completes nothing.
  const e = new PortForwardDecoder();
  assert.deepEqual(e.push(u8(0x00)), []);
  assert.deepEqual(e.push(u8(0x00, 0x90)), []);
  assert.deepEqual(e.push(u8(0x00)), []);
  assert.deepEqual(e.push(u8(0x00, 0x1f, 0x41)), [
    { kind: "port", channel: 0, port: 8080 },
    { kind: "data", bytes: u8(0x41) },
  ]);
});

Deno.test("frames: data after the prefix, in later messages", () => {
  const d = new PortForwardDecoder();
  d.push(u8(0x00, 0x90, 0x1f));
  d.push(u8(0x01, 0x90, 0x1f));
  assert.deepEqual(d.push(u8(0x00, ...text("hi"))), [{ kind: "data", bytes: text("hi") }]);
  assert.deepEqual(d.push(u8(0x00, 0x00)), [{ kind: "data", bytes: u8(0) }]);
  assert.deepEqual(d.push(u8(0x00)), []);
});

Deno.test("frames: a prefix and data in the same message", () => {
  const d = new PortForwardDecoder();
  assert.deepEqual(d.push(u8(0x00, 0x90, 0x1f, ...text("HTTP/1.1 200 OK"))), [
    { kind: "port", channel: 0, port: 8080 },
    { kind: "data", bytes: text("HTTP/1.1 200 OK") },
  ]);
  // Data is a view of the message: no copy of the payload.
  const message = u8(0x00, 1, 2, 3);
  const [event] = d.push(message);
  assert.equal(event.kind, "data");
  if (event.kind === "data") {
    assert.equal(event.bytes.buffer, message.buffer);
    assert.equal(event.bytes.byteOffset, 1);
  }
});

Deno.test("frames: error channel text after its prefix", () => {
  const d = new PortForwardDecoder();
  d.push(u8(0x00, 0x90, 0x1f));
  const message = "error forwarding port 8080 to pod abc, uid : connection refused";
  assert.deepEqual(d.push(u8(0x01, 0x90, 0x1f, ...text(message))), [
    { kind: "port", channel: 1, port: 8080 },
    { kind: "error", bytes: text(message) },
  ]);
  assert.deepEqual(d.push(u8(0x01, ...text("more"))), [{ kind: "error", bytes: text("more") }]);
});

Deno.test("frames: an empty message and unknown channels throw ProtocolError", () => {
  const d = new PortForwardDecoder();
  assert.throws(() => d.push(new Uint8Array(0)), (e: unknown) => {
    assert.ok(e instanceof ProtocolError);
    assert.equal(e.name, "ProtocolError");
    assert.equal(e.message, "empty port-forward message");
    return true;
  });
  for (const channel of [2, 3, 255]) {
    assert.throws(() => d.push(u8(channel, 0x90, 0x1f)), (e: unknown) => {
      assert.ok(e instanceof ProtocolError);
      assert.equal(e.message, `message on unexpected channel ${channel}`);
      return true;
    });
  }
  // Errors leave the decoder as it was.
  assert.deepEqual(d.push(u8(0x00, 0x90, 0x1f)), [{ kind: "port", channel: 0, port: 8080 }]);
});
