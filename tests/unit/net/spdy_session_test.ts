/**
 * The SPDY session against an in-memory server: batching and stream ids, the life of a stream,
 * resets, pings, GOAWAY, the connection's end, and reading held back for a slow consumer.
 */
import { encodeGoAway } from "../../../testenv/spdy_peer.ts";
import assert from "node:assert/strict";
import {
  SpdySession,
  type SpdySessionOptions,
  SpdyStreamError,
  StreamState,
} from "../../../src/net/spdy_session.ts";
import { BlockPool } from "../../../src/net/byte_queue.ts";
import { encodeData, encodePing, encodeRstStream } from "../../../src/net/spdy_frames.ts";
import { ClientFrameParser, MemoryTransport, synReply } from "../../../testenv/spdy_peer.ts";
import { waitFor } from "../../helpers/wait.ts";

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);
/** Lets queued microtasks and the session's read loop run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

function setup(
  opts: SpdySessionOptions = { streamHighWater: 1024 * 1024, sessionHighWater: 8 * 1024 * 1024 },
  reuse = false,
) {
  const transport = new MemoryTransport(reuse);
  const session = new SpdySession(transport, opts);
  const parser = new ClientFrameParser();
  const sentFrames = () => transport.sent.flatMap((m) => parser.parse(m));
  return { transport, session, sentFrames };
}

Deno.test("spdy session: streams opened in one turn leave in one message, ids odd and rising", async () => {
  const { transport, session, sentFrames } = setup();
  const a = session.openStream([["streamtype", "error"], ["port", "80"]]);
  a.end();
  const b = session.openStream([["streamtype", "data"], ["port", "80"]]);
  await settle();
  assert.equal(transport.sent.length, 1);
  assert.deepEqual(sentFrames(), [
    { kind: "syn", streamId: 1, fin: false, headers: { streamtype: "error", port: "80" } },
    { kind: "data", streamId: 1, fin: true, data: new Uint8Array(0) },
    { kind: "syn", streamId: 3, fin: false, headers: { streamtype: "data", port: "80" } },
  ]);
  assert.deepEqual([a.id, b.id], [1, 3]);
  session.close();
});

Deno.test("spdy session: a turn's frames beyond 1 MiB go out as several messages, in order", async () => {
  const { transport, session, sentFrames } = setup();
  const streams = Array.from({ length: 40 }, (_, i) => session.openStream([["port", String(i)]]));
  await settle();
  transport.sent.length = 0;
  const chunk = 64 * 1024;
  const writes = streams.map((s, i) => s.write(new Uint8Array(chunk).fill(i)));
  await Promise.all(writes);
  assert.ok(transport.sent.length >= 3, `${transport.sent.length} messages for 2.5 MiB`);
  for (const m of transport.sent) assert.ok(m.length <= 1024 * 1024, `a message of ${m.length}`);
  const data = sentFrames().filter((f) => f.kind === "data");
  assert.deepEqual(data.map((f) => f.streamId), streams.map((s) => s.id), "in the order queued");
  assert.ok(data.every((f, i) => f.kind === "data" && f.data.length === chunk && f.data[0] === i));
  session.close();
});

Deno.test("spdy session: data and FIN reach the reader; a stream done both ways is forgotten", async () => {
  const { transport, session, sentFrames } = setup();
  let idle = 0;
  session.onIdle = () => idle++;
  const s = session.openStream([["port", "80"]]);
  transport.deliver(synReply(1));
  transport.deliver(encodeData(1, text("hello ")));
  transport.deliver(encodeData(1, text("world"), true));
  await settle();
  assert.equal(s.replied, true);
  assert.equal(str(await s.read()), "hello world", "what is queued comes in one read");
  assert.equal(await s.read(), null);
  assert.equal(session.streamCount, 1, "still open for writing");
  await s.write(text("bye"));
  await s.end();
  assert.equal(session.streamCount, 0);
  assert.equal(idle, 1);
  assert.deepEqual(sentFrames().slice(1), [
    { kind: "data", streamId: 1, fin: false, data: text("bye") },
    { kind: "data", streamId: 1, fin: true, data: new Uint8Array(0) },
  ]);
  await assert.rejects(s.write(text("late")), SpdyStreamError);
  session.close();
});

Deno.test("spdy session: data read stays intact until the next read while the transport reuses its buffer", async () => {
  const blocks = new BlockPool(1024);
  const { transport, session } = setup(
    { streamHighWater: 1024 * 1024, sessionHighWater: 8 * 1024 * 1024, blocks },
    true,
  );
  const a = session.openStream([["port", "80"]]);
  const b = session.openStream([["port", "81"]]);
  const expected = { a: [] as number[], b: [] as number[] };
  const got = { a: [] as number[], b: [] as number[] };
  const send = (s: typeof a, key: "a" | "b", n: number, seed: number) => {
    const data = new Uint8Array(n).map((_, i) => (seed + i) & 0xff);
    expected[key].push(...data);
    // Frame headers and payloads in separate messages, as the API server sends them.
    const frame = encodeData(s.id, data);
    transport.deliver(frame.subarray(0, 8));
    transport.deliver(frame.subarray(8));
  };
  send(a, "a", 700, 1);
  send(b, "b", 300, 2);
  await settle();
  const first = await a.read();
  const copy = first!.slice();
  send(a, "a", 900, 3);
  send(b, "b", 1500, 4);
  await settle();
  assert.deepEqual(first, copy, "the chunk lent by read() is untouched by later messages");
  got.a.push(...first!);
  for (const [s, key] of [[a, "a"], [b, "b"]] as const) {
    while (s.buffered > 0) got[key].push(...(await s.read())!);
  }
  assert.deepEqual(got, expected);
  const created = blocks.created;
  for (let i = 0; i < 50; i++) {
    send(a, "a", 1000, i);
    await settle();
    got.a.push(...(await a.read())!);
  }
  assert.deepEqual(got.a, expected.a);
  assert.ok(blocks.created <= created + 1, `a steady stream reuses blocks (${blocks.created})`);
  session.close();
});

Deno.test("spdy session: a reset delivers what came before it, then fails with its status", async () => {
  const { transport, session } = setup();
  const s = session.openStream([["port", "80"]]);
  transport.deliver(encodeData(1, text("partial")));
  transport.deliver(encodeRstStream(1, 3));
  await settle();
  assert.equal(str(await s.read()), "partial");
  await assert.rejects(s.read(), (e: unknown) => {
    assert.ok(e instanceof SpdyStreamError);
    assert.equal(e.status, 3);
    return true;
  });
  assert.equal(session.streamCount, 0);
  await assert.rejects(s.write(text("x")), SpdyStreamError);
  session.close();
});

Deno.test("spdy session: the server's pings are echoed, answers to ours are not", async () => {
  const { transport, session, sentFrames } = setup();
  transport.deliver(encodePing(2));
  transport.deliver(encodePing(7));
  await settle();
  assert.deepEqual(sentFrames(), [{ kind: "ping", id: 2 }]);
  assert.deepEqual([...transport.sent[0].subarray(8)], [0, 0, 0, 2]);
  session.close();
});

Deno.test("spdy session: GOAWAY fails streams it did not take and refuses new ones", async () => {
  const { transport, session } = setup();
  const kept = session.openStream([["port", "80"]]);
  const dropped = session.openStream([["port", "81"]]);
  transport.deliver(encodeGoAway(1));
  await settle();
  assert.equal(session.accepting, false);
  assert.throws(() => session.openStream([["port", "82"]]), SpdyStreamError);
  await assert.rejects(dropped.read(), /going away/);
  transport.deliver(encodeData(1, text("still here"), true));
  await settle();
  assert.equal(str(await kept.read()), "still here");
  session.close();
});

Deno.test("spdy session: the connection's end or a malformed frame fails every open stream", async () => {
  for (const end of [null, new Uint8Array([0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1])]) {
    const { transport, session } = setup();
    const s = session.openStream([["port", "80"]]);
    transport.deliver(end);
    await session.done;
    assert.equal(session.closed, true);
    assert.equal(transport.closed, true);
    await assert.rejects(
      s.read(),
      end === null ? /server closed the connection/ : /SPDY version 2/,
    );
    assert.throws(() => session.openStream([["port", "80"]]), SpdyStreamError);
  }
});

Deno.test("spdy session: reading stops while a stream holds its high-water mark, and resumes", async () => {
  const { transport, session } = setup({
    streamHighWater: 100,
    sessionHighWater: 1000,
    blocks: new BlockPool(80),
  });
  const s = session.openStream([["port", "80"]]);
  for (let i = 0; i < 3; i++) transport.deliver(encodeData(1, new Uint8Array(80).fill(i)));
  await settle();
  // 80 bytes unread: read on; 160: over the mark, so the third message stays unread.
  assert.equal(transport.pending, 1);
  assert.equal(session.paused, true);
  assert.equal((await s.read())?.[0], 0);
  await settle();
  assert.equal(transport.pending, 1, "80 unread is still above half the mark");
  assert.equal((await s.read())?.[0], 1);
  await settle();
  assert.equal(transport.pending, 0);
  assert.equal(session.paused, false);
  assert.equal((await s.read())?.[0], 2);
  session.close();
});

Deno.test("spdy session: the session's own mark bounds many streams together", async () => {
  const { transport, session } = setup({ streamHighWater: 1000, sessionHighWater: 250 });
  const streams = [0, 1, 2, 3].map((i) => session.openStream([["port", String(i)]]));
  for (const s of streams) transport.deliver(encodeData(s.id, new Uint8Array(90)));
  await settle();
  assert.equal(transport.pending, 1, "270 bytes unread over four streams: the fourth waits");
  for (const s of streams.slice(0, 2)) await s.read();
  await settle();
  assert.equal(transport.pending, 0);
  session.close();
});

Deno.test("spdy session: reset sends RST_STREAM CANCEL and drops unread data", async () => {
  const { transport, session, sentFrames } = setup({
    streamHighWater: 100,
    sessionHighWater: 1000,
  });
  const s = session.openStream([["port", "80"]]);
  transport.deliver(encodeData(1, new Uint8Array(150)));
  transport.deliver(encodeData(1, new Uint8Array(10)));
  await settle();
  assert.equal(session.paused, true);
  s.reset();
  await settle();
  assert.equal(session.paused, false, "the dropped bytes no longer hold reading back");
  assert.deepEqual(sentFrames().at(-1), { kind: "rst", streamId: 1, status: 5 });
  assert.equal(session.streamCount, 0);
  session.close();
});

Deno.test("spdy session: a stream's state follows FINs and resets, in one table", async () => {
  const { transport, session } = setup();
  const a = session.openStream([["port", "80"]]);
  assert.equal(a.state, StreamState.Open);
  await a.end();
  assert.equal(a.state, StreamState.LocalClosed);
  await assert.rejects(a.write(text("late")), /already ended/);
  await a.end(); // a second FIN is not sent and changes nothing
  assert.equal(a.state, StreamState.LocalClosed);
  transport.deliver(encodeData(a.id, text("answer"), true));
  await settle();
  assert.equal(a.state, StreamState.Closed);
  assert.equal(str(await a.read()), "answer");
  assert.equal(session.streamCount, 0, "closed both ways: forgotten");

  const b = session.openStream([["port", "81"]]);
  transport.deliver(encodeData(b.id, new Uint8Array(0), true));
  await settle();
  assert.equal(b.state, StreamState.RemoteClosed);
  await b.write(text("still may send"));
  transport.deliver(encodeRstStream(b.id, 5));
  await settle();
  assert.equal(b.state, StreamState.Reset);
  transport.deliver(encodeData(b.id, text("after the reset")));
  await settle();
  assert.equal(b.state, StreamState.Reset, "nothing leaves Reset");
  await assert.rejects(b.read(), SpdyStreamError);
  session.close();
});

Deno.test("spdy session: keepalive pings after silence, and a ping left unanswered ends it", async () => {
  const transport = new MemoryTransport();
  const session = new SpdySession(transport, {
    streamHighWater: 1024,
    sessionHighWater: 4096,
    pingIntervalMs: 30,
    pingTimeoutMs: 60,
  });
  const s = session.openStream([["port", "80"]]);
  // Pings go out alone (no header block), so a message with one is 12 bytes starting 80 03 00 06.
  const pinged = () => transport.sent.some((m) => m.length === 12 && m[3] === 6);
  await waitFor(pinged, 2000, "a ping");
  // Any frame answers it; then silence again, and this time no answer.
  transport.deliver(encodePing(1));
  await session.done;
  assert.match(String(s.failure?.message), /answered no ping for 60 ms/);
});
