/**
 * The front's time limits on clients and origins, over real loopback connections with short
 * limits: a connection that never sends its first byte, a SOCKS handshake that stalls halfway
 * (SOCKS5 after its greeting, SOCKS4 mid-request), and an origin that takes a request and never
 * starts its response (504, with the reason). Each is closed or answered at its deadline, not
 * before it, and the listener goes on serving.
 */
import assert from "node:assert/strict";
import { ProxyListener } from "../../../src/front/listener.ts";
import type { Dialer } from "../../../src/front/dialer.ts";
import type { FrontTimeouts } from "../../../src/front/session.ts";
import { TcpUpstream } from "../../../src/route/direct.ts";
import { closeQuietly, concat, writeAll } from "../../../src/net/io.ts";
import { readExactly } from "../../../testenv/bytes.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Every name goes to the one loopback port given. */
function dialerTo(port: number): Dialer {
  return {
    async dial(host) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      return { upstream: new TcpUpstream(conn, `test ${host}`), via: `test ${host}` };
    },
  };
}

/** An origin that reads requests and never answers; `requests` counts the heads it got. */
function silentOrigin() {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let requests = 0;
  (async () => {
    for await (const c of l) {
      open.add(c);
      (async () => {
        const buf = new Uint8Array(4096);
        let text = "";
        for (let n; (n = await c.read(buf)) !== null;) {
          text += dec(buf.subarray(0, n));
          requests += text.split("\r\n\r\n").length - 1;
          text = text.slice(text.lastIndexOf("\r\n\r\n") + 4);
        }
      })().catch(() => {}).finally(() => {
        open.delete(c);
        closeQuietly(c);
      });
    }
  })().catch(() => {});
  return {
    port: l.addr.port,
    get requests() {
      return requests;
    },
    close() {
      closeQuietly(l);
      for (const c of open) closeQuietly(c);
    },
  };
}

async function withFront(
  timeouts: Partial<FrontTimeouts>,
  body: (port: number, origin: ReturnType<typeof silentOrigin>) => Promise<void>,
): Promise<void> {
  const origin = silentOrigin();
  const listener = ProxyListener.listen({ hostname: "127.0.0.1", port: 0, timeouts });
  listener.serve({
    dialer: dialerTo(origin.port),
    pages: { pac: () => "", about: () => "" },
  });
  try {
    await body(listener.addr.port, origin);
  } finally {
    await listener.close();
    origin.close();
  }
}

/** Reads until the peer closes; everything read, and when the close came. */
async function untilClosed(conn: Deno.Conn): Promise<{ bytes: Uint8Array; at: number }> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  return { bytes: concat(parts), at: performance.now() };
}

const LIMIT = 400;
/** Generous: the shared machine may be slow, but not 5 s late for a 0.4 s timer. */
const LATE = 5_000;

Deno.test("time limits: a connection that never sends a byte is closed at the handshake deadline", async () => {
  await withFront({ handshakeMs: LIMIT }, async (port) => {
    const t0 = performance.now();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const { bytes, at } = await untilClosed(conn);
    conn.close();
    assert.equal(bytes.length, 0, "closed without a word");
    assert.ok(at - t0 >= LIMIT - 20, `closed after ${at - t0} ms, before the deadline`);
    assert.ok(at - t0 < LATE, `closed after ${at - t0} ms`);
  });
});

Deno.test("time limits: a SOCKS5 client that stops after its greeting is closed at the deadline", async () => {
  await withFront({ handshakeMs: LIMIT }, async (port) => {
    const t0 = performance.now();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(conn, new Uint8Array([5, 1, 0]));
    assert.deepEqual(await readExactly(conn, 2), new Uint8Array([5, 0]));
    const { bytes, at } = await untilClosed(conn);
    conn.close();
    assert.equal(bytes.length, 0, "no reply to a request that never came");
    assert.ok(at - t0 >= LIMIT - 20, `closed after ${at - t0} ms, before the deadline`);
    assert.ok(at - t0 < LATE);
  });
});

Deno.test("time limits: a SOCKS4 request cut short is closed at the deadline, without a reply", async () => {
  await withFront({ handshakeMs: LIMIT }, async (port, origin) => {
    const t0 = performance.now();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    // VN CD DSTPORT DSTIP, and the user id never ends.
    await writeAll(conn, new Uint8Array([4, 1, 0, 80, 127, 0, 0, 1, 0x75, 0x73]));
    const { bytes, at } = await untilClosed(conn);
    conn.close();
    assert.equal(bytes.length, 0);
    assert.ok(at - t0 >= LIMIT - 20, `closed after ${at - t0} ms, before the deadline`);
    assert.ok(at - t0 < LATE, `closed after ${at - t0} ms`);
    assert.equal(origin.requests, 0, "nothing was dialled");
  });
});

Deno.test("time limits: an origin that never starts its response gets the client a 504 with the reason", async () => {
  await withFront({ handshakeMs: 5000, responseMs: LIMIT }, async (port, origin) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const t0 = performance.now();
    await writeAll(conn, enc("GET http://web.demo/slow HTTP/1.1\r\nHost: web.demo\r\n\r\n"));
    const { bytes, at } = await untilClosed(conn);
    conn.close();
    const text = dec(bytes);
    assert.match(text, /^HTTP\/1\.1 504 /);
    assert.match(text, /\r\nConnection: close\r\n/i);
    assert.match(text, /sent no response within 0\.4 s/);
    assert.equal(origin.requests, 1, "the request reached the origin");
    assert.ok(at - t0 >= LIMIT - 20, `answered after ${at - t0} ms, before the deadline`);
    assert.ok(at - t0 < LATE);
  });
});

Deno.test("time limits: the listener serves new clients after a timed-out one", async () => {
  await withFront({ handshakeMs: LIMIT }, async (port) => {
    const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
    const next = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(next, new Uint8Array([5, 1, 0]));
    assert.deepEqual(await readExactly(next, 2), new Uint8Array([5, 0]));
    next.close();
    await untilClosed(stalled);
    stalled.close();
  });
});
