/**
 * negotiate() over real loopback TCP connections: what the server reads, writes and returns.
 */
import assert from "node:assert/strict";
import { bytes } from "../../../../testenv/bytes.ts";
import { MAX_HANDSHAKE, negotiate } from "../../../../src/front/socks/handshake.ts";
import { closeQuietly, writeAll } from "../../../../src/net/io.ts";
import { BufferedReader } from "../../../../src/net/buffered_reader.ts";

const encoder = new TextEncoder();

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

interface Pair {
  client: Deno.TcpConn;
  /** The accepted side, wrapped to record the size of every read negotiate() makes. */
  server: Deno.Conn;
  reads: number[];
  /** Resolves once the server side has read `total` bytes in all. */
  readUpTo(total: number): Promise<void>;
}

/** A connected loopback pair; `body` runs with it, and both ends are closed afterwards. */
async function withPair(body: (p: Pair) => Promise<void>): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const accepted = await accepting;
  listener.close();
  client.setNoDelay(true);
  const reads: number[] = [];
  const waiters: { total: number; resolve: () => void }[] = [];
  const readTotal = () => reads.reduce((a, b) => a + b, 0);
  const server = new Proxy(accepted, {
    get(target, prop) {
      if (prop === "read") {
        return async (buf: Uint8Array) => {
          const n = await target.read(buf);
          if (n !== null) reads.push(n);
          for (const w of waiters.filter((w) => readTotal() >= w.total)) w.resolve();
          return n;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const readUpTo = (total: number) =>
    readTotal() >= total ? Promise.resolve() : new Promise<void>((resolve) => {
      waiters.push({ total, resolve });
    });
  // A test that waits for bytes that never come fails instead of hanging: closing both ends makes
  // every pending read (the client's, and negotiate()'s) fail.
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    closeQuietly(client);
    closeQuietly(accepted);
  }, WATCHDOG_MS);
  try {
    await body({ client, server, reads, readUpTo });
  } catch (e) {
    if (timedOut) throw new Error(`timed out after ${WATCHDOG_MS} ms (${e})`);
    throw e;
  } finally {
    clearTimeout(watchdog);
    closeQuietly(client);
    closeQuietly(accepted);
  }
}

const WATCHDOG_MS = 5000;

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) break;
    got += r;
  }
  return out.subarray(0, got);
}

async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buf = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) return new Uint8Array(chunks);
    chunks.push(...buf.subarray(0, n));
  }
}

/** Closes the server end and returns everything it had written that the client did not read. */
async function restWritten(p: Pair): Promise<string> {
  closeQuietly(p.server);
  return hex(await readToEnd(p.client));
}

const SOCKS4A_WEB = bytes(4, 1, 0x1f, 0x90, 0, 0, 0, 1, "me", 0, "Web.Demo", 0);
const SOCKS4A_WEB_REQUEST = {
  version: 4,
  command: "connect",
  destination: { host: "web.demo", port: 8080, addressType: "domain" },
  userId: "me",
};

Deno.test("handshake: MAX_HANDSHAKE is 1024", () => {
  assert.equal(MAX_HANDSHAKE, 1024);
});

Deno.test("handshake: SOCKS4 request sent one byte at a time", async () => {
  await withPair(async (p) => {
    const message = bytes(4, 1, 0, 80, 10, 244, 0, 5, "u", 0);
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    for (let i = 0; i < message.length; i++) {
      await p.client.write(message.subarray(i, i + 1));
      await p.readUpTo(i + 1);
    }
    assert.deepEqual(await result, {
      ok: true,
      request: {
        version: 4,
        command: "connect",
        destination: { host: "10.244.0.5", port: 80, addressType: "ipv4" },
        userId: "u",
      },
      early: new Uint8Array(0),
    });
    // Every byte came in its own read, and nothing was read past the message.
    assert.deepEqual(p.reads, new Array(message.length).fill(1));
    // SOCKS4 has no negotiation reply: the server wrote nothing.
    assert.equal(await restWritten(p), "");
  });
});

Deno.test("handshake: SOCKS4a request sent one byte at a time", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    for (let i = 0; i < SOCKS4A_WEB.length; i++) {
      await p.client.write(SOCKS4A_WEB.subarray(i, i + 1));
      await p.readUpTo(i + 1);
    }
    assert.deepEqual(await result, {
      ok: true,
      request: SOCKS4A_WEB_REQUEST,
      early: new Uint8Array(0),
    });
    assert.equal(p.reads.length, SOCKS4A_WEB.length);
    assert.equal(await restWritten(p), "");
  });
});

Deno.test("handshake: SOCKS5 negotiation answers 05 00, then reads the request", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    await writeAll(p.client, bytes(5, 2, 2, 0));
    assert.equal(hex(await readExactly(p.client, 2)), "05 00");
    await writeAll(p.client, bytes(5, 1, 0, 3, 8, "web.demo", 0, 80));
    assert.deepEqual(await result, {
      ok: true,
      request: {
        version: 5,
        command: "connect",
        destination: { host: "web.demo", port: 80, addressType: "domain" },
      },
      early: new Uint8Array(0),
    });
    // The method reply was all: success is the caller's to send once connected.
    assert.equal(await restWritten(p), "");
  });
});

Deno.test("handshake: SOCKS5 request over IPv6 split across writes", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    await writeAll(p.client, bytes(5, 1));
    await p.readUpTo(2);
    await writeAll(p.client, bytes(0));
    assert.equal(hex(await readExactly(p.client, 2)), "05 00");
    const request = bytes(
      5,
      1,
      0,
      4,
      [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      0,
      22,
    );
    await writeAll(p.client, request.subarray(0, 7));
    await p.readUpTo(3 + 7);
    await writeAll(p.client, request.subarray(7));
    const hs = await result;
    assert.ok(hs.ok);
    assert.deepEqual(hs.request.destination, { host: "fe80::1", port: 22, addressType: "ipv6" });
    assert.deepEqual(p.reads, [2, 1, 7, 15]);
  });
});

Deno.test("handshake: SOCKS5 client offering only user/password gets 05 FF", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    await writeAll(p.client, bytes(5, 1, 2));
    assert.equal(hex(await readExactly(p.client, 2)), "05 ff");
    assert.deepEqual(await result, {
      ok: false,
      reason: "SOCKS5 client offers only authentication methods ktctl does not support (2)",
    });
    assert.equal(await restWritten(p), "");
  });
});

Deno.test("handshake: SOCKS5 greeting with no methods gets 05 FF", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    await writeAll(p.client, bytes(5, 0));
    const hs = await result;
    assert.deepEqual(hs, { ok: false, reason: "SOCKS5 greeting offers no methods" });
    assert.equal(await restWritten(p), "05 ff");
  });
});

Deno.test("handshake: a refused SOCKS5 request gets the protocol's reply", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    await writeAll(p.client, bytes(5, 1, 0));
    assert.equal(hex(await readExactly(p.client, 2)), "05 00");
    await writeAll(p.client, bytes(5, 1, 0, 9, 0, 0));
    assert.deepEqual(await result, { ok: false, reason: "unknown SOCKS5 address type 9" });
    assert.equal(await restWritten(p), "05 08 00 01 00 00 00 00 00 00");
  });
});

Deno.test("handshake: a first byte that is neither SOCKS nor a letter is refused silently", async () => {
  for (const first of [0x16, 0x00, 0xff]) {
    await withPair(async (p) => {
      const result = negotiate(p.server, new BufferedReader(p.server, 1024));
      await writeAll(p.client, bytes(first, 3, 1, 0, 0));
      assert.deepEqual(await result, {
        ok: false,
        reason: `not SOCKS (first byte 0x${first.toString(16)})`,
      });
      assert.equal(await restWritten(p), "");
    });
  }
});

Deno.test("handshake: a first byte that is not a SOCKS version is refused without a reply", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    await writeAll(p.client, encoder.encode("GET / HTTP/1.1\r\n\r\n"));
    assert.deepEqual(await result, { ok: false, reason: "not SOCKS (first byte 0x47)" });
  });
});

Deno.test("handshake: an endless SOCKS4 user id is refused with 00 5B, without hanging", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    const flood = bytes(4, 1, 0, 80, 127, 0, 0, 1, "x".repeat(MAX_HANDSHAKE + 100));
    const writing = writeAll(p.client, flood);
    const hs = await result;
    await writing;
    assert.deepEqual(hs, { ok: false, reason: "SOCKS4 user id is longer than 255 bytes" });
    assert.equal(hex(await readExactly(p.client, 8)), "00 5b 00 00 00 00 00 00");
    // It stopped reading within the limit.
    assert.ok(p.reads.reduce((a, b) => a + b, 0) <= MAX_HANDSHAKE);
  });
});

Deno.test("handshake: an endless SOCKS4a hostname is refused with 00 5B", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    const flood = bytes(4, 1, 0, 80, 0, 0, 0, 1, "id", 0, "h".repeat(MAX_HANDSHAKE + 100));
    const writing = writeAll(p.client, flood);
    const hs = await result;
    await writing;
    assert.deepEqual(hs, { ok: false, reason: "SOCKS4a hostname is longer than 255 bytes" });
    assert.equal(hex(await readExactly(p.client, 8)), "00 5b 00 00 00 00 00 00");
  });
});

Deno.test("handshake: bytes sent after a SOCKS4a request come back as early data", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    const payload = bytes("GET / HTTP/1.1\r\nHost: web.demo\r\n\r\n", 0, 4, 5);
    await writeAll(p.client, bytes(SOCKS4A_WEB, payload));
    assert.deepEqual(await result, { ok: true, request: SOCKS4A_WEB_REQUEST, early: payload });
    assert.equal(await restWritten(p), "");
  });
});

Deno.test("handshake: a SOCKS5 client sending everything at once keeps its early data", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    const payload = bytes("\x16\x03\x01 hello");
    await writeAll(p.client, bytes(5, 1, 0, 5, 1, 0, 1, 10, 96, 0, 10, 1, 0xbb, payload));
    assert.deepEqual(await result, {
      ok: true,
      request: {
        version: 5,
        command: "connect",
        destination: { host: "10.96.0.10", port: 443, addressType: "ipv4" },
      },
      early: payload,
    });
    assert.equal(await restWritten(p), "05 00");
  });
});

Deno.test("handshake: a client closing before or during the handshake is not ok", async () => {
  const cases: { what: string; writes: Uint8Array[]; methodReply?: boolean; reason: string }[] = [
    { what: "nothing sent", writes: [], reason: "closed before the handshake" },
    {
      what: "half a SOCKS4 request",
      writes: [bytes(4, 1, 0, 80, 10)],
      reason: "closed during the handshake",
    },
    {
      what: "SOCKS4 without the user id's NUL",
      writes: [bytes(4, 1, 0, 80, 10, 0, 0, 1, "u")],
      reason: "closed during the handshake",
    },
    {
      what: "half a SOCKS5 greeting",
      writes: [bytes(5, 2, 0)],
      reason: "closed during the handshake",
    },
    {
      what: "half a SOCKS5 request",
      writes: [bytes(5, 1, 0), bytes(5, 1, 0, 3, 8, "web")],
      methodReply: true,
      reason: "closed during the handshake",
    },
  ];
  for (const { what, writes, methodReply, reason } of cases) {
    await withPair(async (p) => {
      const result = negotiate(p.server, new BufferedReader(p.server, 1024));
      let sent = 0;
      for (const [i, w] of writes.entries()) {
        await writeAll(p.client, w);
        sent += w.length;
        await p.readUpTo(sent);
        // Read the method reply, so that closing sends a FIN rather than a reset.
        if (methodReply && i === 0) assert.equal(hex(await readExactly(p.client, 2)), "05 00");
      }
      p.client.close();
      assert.deepEqual(await result, { ok: false, reason }, what);
    });
  }
});

Deno.test("handshake: a client that half-closes mid-request is not ok", async () => {
  await withPair(async (p) => {
    const result = negotiate(p.server, new BufferedReader(p.server, 1024));
    await writeAll(p.client, bytes(4, 1, 0, 80, 0, 0, 0, 1, 0, "web"));
    await p.client.closeWrite();
    assert.deepEqual(await result, { ok: false, reason: "closed during the handshake" });
    assert.equal(await restWritten(p), "");
  });
});
