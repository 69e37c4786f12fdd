/**
 * The HTTP front against hostile origins where time and logs matter, over real loopback
 * connections (ProxyListener, raw TCP origins): interim responses do not hold an exchange open
 * past the response deadline, and `-d` lines never carry a URL's query.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { ProxyListener } from "../../../../src/front/listener.ts";
import type { Dialer } from "../../../../src/front/dialer.ts";
import type { FrontTimeouts } from "../../../../src/front/session.ts";
import { TcpUpstream } from "../../../../src/route/direct.ts";
import { closeQuietly, writeAll } from "../../../../src/net/io.ts";
import { formatRecord } from "../../../../src/cli/logging.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A raw origin: `handle` gets each connection once its request head has come. */
function rawOrigin(handle: (conn: Deno.Conn, head: string) => Promise<void>) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const c of l) {
      open.add(c);
      (async () => {
        const buf = new Uint8Array(65536);
        let text = "";
        while (!text.includes("\r\n\r\n")) {
          const n = await c.read(buf);
          if (n === null) return;
          text += dec(buf.subarray(0, n));
        }
        await handle(c, text);
      })().catch(() => {}).finally(() => {
        open.delete(c);
        closeQuietly(c);
      });
    }
  })().catch(() => {});
  return {
    port: l.addr.port,
    close() {
      closeQuietly(l);
      for (const c of open) closeQuietly(c);
    },
  };
}

function front(port: number, timeouts: Partial<FrontTimeouts> = {}) {
  const dialer: Dialer = {
    async dial() {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      return { upstream: new TcpUpstream(conn, "test"), via: "test" };
    },
  };
  const listener = ProxyListener.listen({ hostname: "127.0.0.1", port: 0, timeouts });
  listener.serve({ dialer, pages: { pac: () => "", about: () => "" } });
  return listener;
}

/** Everything the proxy sends until it closes. */
async function exchange(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, enc(request));
    let out = "";
    const buf = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return out;
      out += dec(buf.subarray(0, n));
      // Keep-alive answers end the exchange once complete.
      if (/\r\n\r\nok$/.test(out)) return out;
    }
  } finally {
    closeQuietly(conn);
  }
}

Deno.test("http front: interim responses do not restart the origin's response deadline", async () => {
  // A 102 every 150 ms, five in all (as many as ktctl relays), then the answer at 750 ms: the
  // origin's own pacing is what is under test, not a wait for ktctl (a loaded machine only makes
  // its gaps longer, which could hide the bug but never fails a correct ktctl).
  const o = rawOrigin(async (conn) => {
    for (let i = 0; i < 5; i++) {
      await writeAll(conn, enc("HTTP/1.1 102 Processing\r\n\r\n"));
      await new Promise((r) => setTimeout(r, 150));
    }
    await writeAll(conn, enc("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  });
  const listener = front(o.port, { responseMs: 400 });
  try {
    const out = await exchange(listener.addr.port, "GET http://slow.demo/ HTTP/1.1\r\n\r\n");
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    // Some 102s, then the 504 at the deadline: never the 200 that came after it.
    assert.equal(statuses.at(-1), "504", out);
    assert.ok(statuses.slice(0, -1).every((s) => s === "102"), out);
    assert.doesNotMatch(out, /200 OK/);
  } finally {
    await listener.close();
    o.close();
  }
});

Deno.test("http front: -d lines name paths, never queries or credentials", async () => {
  const lines: string[] = [];
  await reset();
  await configure({
    sinks: { memory: (r: LogRecord) => lines.push(formatRecord(r)) },
    loggers: [
      { category: ["ktctl"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["memory"] },
    ],
  });
  const o = rawOrigin(async (conn) => {
    await writeAll(conn, enc("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  });
  const listener = front(o.port);
  try {
    const port = listener.addr.port;
    await exchange(port, "GET http://u:SECRET0@web.demo/path?token=SECRET1 HTTP/1.1\r\n\r\n");
    await exchange(port, "GET ftp://web.demo/x?token=SECRET2 HTTP/1.1\r\n\r\n");
    await exchange(
      port,
      "POST http://web.demo/y?token=SECRET3 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    );
    await exchange(
      port,
      "GET http://web.demo/z?token=SECRET4 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    );
    await listener.close();
    const text = lines.join("");
    assert.match(text, /GET http:\/\/web\.demo\/path via test/);
    assert.match(text, /ftp:\/\/web\.demo\/x: /);
    assert.match(text, /http:\/\/web\.demo\/y: malformed request/);
    assert.match(text, /http:\/\/web\.demo\/z: malformed request: more than one Host/);
    assert.doesNotMatch(text, /SECRET/);
  } finally {
    await listener.close();
    o.close();
    await reset();
  }
});
