/**
 * ktctl's WebSocket client against a raw loopback server that writes frames byte by byte as
 * chosen here: fragmented messages (Go's servers write a message as frames of a few KiB), pings
 * between fragments, and messages over the limit. The API server's own framing is exercised by
 * tests/e2e.
 */
import assert from "node:assert/strict";
import { ConnectionPool, WsClient } from "../../../src/net/ws_client.ts";
import { FrameError, Opcode } from "../../../src/net/ws_frames.ts";
import { type ByteStream, concat, writeAll } from "../../../src/net/io.ts";
import { readExactly } from "../../../testenv/bytes.ts";
import { waitFor } from "../../helpers/wait.ts";

/** An unmasked server frame. */
function serverFrame(opcode: number, fin: boolean, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126
    ? [n]
    : n < 65536
    ? [126, n >> 8, n & 0xff]
    : [127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return concat([new Uint8Array([(fin ? 0x80 : 0) | opcode, ...head]), payload]);
}

/**
 * Accepts one upgrade, then hands the raw connection to `serve`, with a promise that settles
 * when `client` has finished (so the server holds the connection open exactly as long as the
 * client needs it). Both sides' failures fail the test: the server's assertions first.
 */
async function withServer(
  serve: (conn: Deno.Conn, clientDone: Promise<void>) => Promise<void>,
  client: (url: string) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let clientSettled = () => {};
  const clientDone = new Promise<void>((r) => clientSettled = r);
  const served = (async () => {
    const conn = await listener.accept();
    listener.close();
    try {
      let head = "";
      const buf = new Uint8Array(4096);
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) throw new Error("the client closed before its upgrade request ended");
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1];
      const digest = await crypto.subtle.digest(
        "SHA-1",
        new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
      );
      const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
      await writeAll(
        conn,
        new TextEncoder().encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: test\r\n\r\n`,
        ),
      );
      await serve(conn, clientDone);
    } finally {
      conn.close();
    }
  })();
  const ran = client(`ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`)
    .finally(() => clientSettled());
  const [server, ours] = await Promise.allSettled([served, ran]);
  if (server.status === "rejected") throw server.reason;
  if (ours.status === "rejected") throw ours.reason;
}

const connect = (url: string, maxPayload?: number) =>
  WsClient.connect({ url, protocols: ["test"], headers: {}, timeoutMs: 5000, maxPayload });

const pattern = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 7 + seed) & 0xff);

Deno.test("ws client: fragments are joined into one message, with a ping between them answered", async () => {
  const whole = pattern(20_000, 1);
  let pong: Uint8Array | undefined;
  await withServer(
    async (conn, clientDone) => {
      await writeAll(
        conn,
        concat([
          serverFrame(Opcode.binary, false, whole.subarray(0, 4096)),
          serverFrame(Opcode.ping, true, new Uint8Array([1, 2, 3])),
          serverFrame(Opcode.continuation, false, whole.subarray(4096, 8192)),
          serverFrame(Opcode.continuation, true, whole.subarray(8192)),
          serverFrame(Opcode.binary, true, pattern(10, 9)),
        ]),
      );
      // The pong: 2 header bytes with the mask bit, a 4-byte mask, 3 masked bytes.
      const frame = await readExactly(conn, 9);
      const mask = frame.subarray(2, 6);
      pong = frame.subarray(6).map((b, i) => b ^ mask[i & 3]);
      assert.equal(frame[0], 0x80 | Opcode.pong);
      await clientDone;
    },
    async (url) => {
      const ws = await connect(url);
      assert.equal(ws.protocol, "test");
      const first = await ws.readMessage();
      assert.deepEqual(first, whole);
      assert.deepEqual(await ws.readMessage(), pattern(10, 9));
      ws.close();
    },
  );
  assert.deepEqual(pong, new Uint8Array([1, 2, 3]));
});

Deno.test("ws client: many fragmented messages in a row each come out whole", async () => {
  const messages = Array.from({ length: 40 }, (_, i) => pattern(1000 + i * 997, i));
  await withServer(
    async (conn) => {
      for (const m of messages) {
        for (let off = 0; off < m.length; off += 4096) {
          const end = Math.min(off + 4096, m.length);
          const opcode = off === 0 ? Opcode.binary : Opcode.continuation;
          await writeAll(conn, serverFrame(opcode, end === m.length, m.subarray(off, end)));
        }
      }
    },
    async (url) => {
      const ws = await connect(url);
      for (const [i, m] of messages.entries()) {
        assert.deepEqual(await ws.readMessage(), m, `message ${i}`);
      }
      assert.equal(await ws.readMessage(), null, "the server's close ends the stream");
      ws.close();
    },
  );
});

/** Reads one masked client frame: its opcode and unmasked payload. */
async function readClientFrame(conn: Deno.Conn): Promise<{ opcode: number; payload: Uint8Array }> {
  const [b0, b1] = await readExactly(conn, 2);
  assert.equal(b1 & 0x80, 0x80, "client frames are masked");
  let n = b1 & 0x7f;
  if (n === 126) n = new DataView((await readExactly(conn, 2)).buffer).getUint16(0);
  else if (n === 127) n = Number(new DataView((await readExactly(conn, 8)).buffer).getBigUint64(0));
  const mask = await readExactly(conn, 4);
  const payload = (await readExactly(conn, n)).map((b, i) => b ^ mask[i & 3]);
  return { opcode: b0 & 0x0f, payload };
}

Deno.test("ws client: sends queued back to back reach the server whole and in order", async () => {
  const sizes = [3, 70_000, 0, 16 * 1024, 1000, 65_536, 200_000, 5];
  const sent = sizes.map((n, i) => pattern(n, i));
  const received: Uint8Array[] = [];
  await withServer(
    async (conn) => {
      while (received.length < sent.length) {
        const { opcode, payload } = await readClientFrame(conn);
        if (opcode === Opcode.binary) received.push(payload);
        else assert.equal(opcode, Opcode.ping, "small frames bring an empty ping along");
      }
    },
    async (url) => {
      const ws = await connect(url);
      // Not awaited one by one: the frames queue, and each is encoded when its turn comes. The
      // last goes in parts, as the SPDY session sends a batch of frames.
      await Promise.all(sent.slice(0, -1).map((m) => ws.send(m)));
      const last = sent.at(-1)!;
      await ws.send(last.subarray(0, 2), last.subarray(2));
      await waitFor(() => received.length === sent.length, 5000, "the server reading every frame");
      ws.close();
    },
  );
  assert.deepEqual(received, sent);
});

Deno.test("ws client: a fragmented message over the limit is an error, and closes the client", async () => {
  await withServer(
    async (conn, clientDone) => {
      await writeAll(
        conn,
        concat([
          serverFrame(Opcode.binary, false, pattern(600, 1)),
          serverFrame(Opcode.continuation, true, pattern(600, 2)),
        ]),
      );
      await clientDone;
    },
    async (url) => {
      const ws = await connect(url, 1000);
      await assert.rejects(ws.readMessage(), FrameError);
      assert.equal(ws.closed, true);
    },
  );
});

Deno.test("connection pool: warm() opens connections ahead (at most its size); the first take() gets one", async () => {
  for (const [asked, expected] of [[1, 1], [5, 2]]) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const c of listener) accepted.push(c);
    })();
    const dials: Promise<Deno.Conn>[] = [];
    const pool = new ConnectionPool(() => {
      const dial = Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      dials.push(dial);
      return dial;
    }, 2);
    try {
      pool.warm(asked);
      assert.equal(dials.length, expected, `warm(${asked})`);
      // The pool took each dial's connection in before this continuation runs (its then()
      // was attached first).
      await Promise.all(dials);
      const first = await pool.take();
      assert.equal(first.warm, true, "the first connection was opened ahead");
      first.conn.close();
    } finally {
      pool.close();
      await Promise.allSettled(dials);
      await waitFor(() => accepted.length === dials.length, 5000, "every dial accepted");
      listener.close();
      await accepting.catch(() => {});
      for (const c of accepted) c.close();
    }
  }
});

Deno.test("connection pool: a take() while the warm-up's dial is under way waits for it, not a new dial", async () => {
  // A dial under way is nearer ready than a new one, which would pay its own handshake (with a
  // client certificate, ~40 ms of the server's delayed ACK each).
  const dials: { resolve: (c: ByteStream) => void; reject: (e: Error) => void }[] = [];
  const pool = new ConnectionPool(
    () => new Promise<ByteStream>((resolve, reject) => dials.push({ resolve, reject })),
    1,
  );
  const fake = (name: string) => ({ name, close() {} }) as unknown as ByteStream;
  try {
    pool.warm(1);
    assert.equal(dials.length, 1);
    const taking = pool.take();
    await Promise.resolve();
    assert.equal(dials.length, 1, "no second dial while the first is under way");
    const warmedUp = fake("warmed up");
    dials[0].resolve(warmedUp);
    const first = await taking;
    assert.equal(first.conn, warmedUp);
    assert.equal(first.warm, false, "a connection just dialled gets the full deadline");
    // Refilled behind it; that dial fails: a take() waiting for it dials for itself.
    assert.equal(dials.length, 2);
    const second = pool.take();
    await Promise.resolve();
    assert.equal(dials.length, 2);
    dials[1].reject(new Error("refused"));
    // The pool refills (dial 3) and the take() dials for itself (dial 4), as with no dial under way.
    await waitFor(() => dials.length === 4, 5000, "the waiting take() dials for itself");
    const own = fake("its own");
    dials[3].resolve(own);
    assert.equal((await second).conn, own);
  } finally {
    pool.close();
    for (const d of dials) d.reject(new Error("closed"));
  }
});
