/**
 * Hostile origins and hostile clients against ktctl's real listener (`--method http`, origins on
 * loopback reached by direct dial). Each bad response comes from a raw TCP origin that follows
 * it with a forged response (`FORGED`); the client then asks a second, honest host on the same
 * proxy connection, and must get that host's own answer (or a closed connection), never the
 * forgery. The request side: a client whose framing an origin could read differently is
 * refused before anything reaches the origin. Raw clients for byte-exact cases; real curl and
 * Python requests where they fit.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { world } from "../helpers/fake_world.ts";
import { closeQuietly, concat, writeAll } from "../../src/net/io.ts";
import { setupLogging } from "../../src/cli/logging.ts";
import { ProxyListener } from "../../src/front/listener.ts";
import { TcpUpstream } from "../../src/route/direct.ts";

await setupLogging(Deno.env.get("KTCTL_TEST_DEBUG") === "1");

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const FORGED = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Forged: 1\r\n\r\nFORGED";

/** A TCP server on loopback; `handle` gets each connection, which is closed after it. */
function server(handle: (conn: Deno.Conn, r: Reader) => Promise<void>) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const c of l) {
      open.add(c);
      handle(c, new Reader(c)).catch(() => {}).finally(() => {
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

/** Buffered reads off a connection, for both the test's clients and origins. */
class Reader {
  buf: Uint8Array = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}
  async more(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk).catch(() => null);
    if (n === null) return false;
    this.buf = concat([this.buf, chunk.subarray(0, n)]);
    return true;
  }
  /** The text up to `delim` (consumed), or undefined if the peer closed first. */
  async until(delim: string): Promise<string | undefined> {
    while (true) {
      const at = dec(this.buf).indexOf(delim);
      if (at >= 0) {
        const out = dec(this.buf.subarray(0, at));
        this.buf = this.buf.subarray(at + delim.length);
        return out;
      }
      if (!(await this.more())) return undefined;
    }
  }
  async bytes(n: number): Promise<string | undefined> {
    while (this.buf.length < n) if (!(await this.more())) return undefined;
    const out = dec(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Everything until the peer closes. */
  async rest(): Promise<string> {
    while (await this.more()) { /* read on */ }
    return dec(this.buf);
  }
}

/** An honest origin: answers each request (keep-alive) with what it got; records them. */
function honest() {
  const seen: string[] = [];
  const s = server(async (conn, r) => {
    while (true) {
      const head = await r.until("\r\n\r\n");
      if (head === undefined) return;
      seen.push(head);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (length > 0) seen.push(`body:${await r.bytes(length)}`);
      const host = /\r\nhost: *([^\r]*)/i.exec(head)?.[1];
      const text = `GOOD ${head.split("\r\n")[0]} host=${host}`;
      await writeAll(conn, enc(`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\n\r\n${text}`));
    }
  });
  return { ...s, seen };
}

/** A hostile origin: reads one request head, sends `reply` and holds the connection open. */
function hostile(reply: string | ((conn: Deno.Conn) => Promise<void>)) {
  return server(async (conn, r) => {
    if ((await r.until("\r\n\r\n")) === undefined) return;
    if (typeof reply === "string") await writeAll(conn, enc(reply));
    else await reply(conn);
    await r.rest();
  });
}

interface Response {
  status: number;
  head: string;
  body: string;
}

/** A client of the proxy reading responses by their framing, as a keep-alive client does. */
class Client {
  private constructor(readonly conn: Deno.TcpConn, readonly r: Reader) {}
  static async open(port: number): Promise<Client> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    // No test waits forever on a connection.
    Deno.unrefTimer(setTimeout(() => closeQuietly(conn), 20_000));
    return new Client(conn, new Reader(conn));
  }
  send(text: string): Promise<void> {
    return writeAll(this.conn, enc(text));
  }
  /** The next response (Content-Length or chunked body); undefined once the proxy closed. */
  async response(): Promise<Response | undefined> {
    const head = await this.r.until("\r\n\r\n");
    if (head === undefined) return undefined;
    const status = Number(head.split(" ")[1]);
    let body = "";
    if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      while (true) {
        const size = parseInt((await this.r.until("\r\n")) ?? "0", 16);
        if (!size) {
          await this.r.until("\r\n");
          break;
        }
        body += await this.r.bytes(size);
        await this.r.until("\r\n");
      }
    } else {
      body = (await this.r.bytes(Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0))) ??
        "";
    }
    return { status, head, body };
  }
  /** The next final response, skipping interim ones; how many interim ones came before. */
  async final(): Promise<{ response: Response | undefined; interims: number }> {
    let interims = 0;
    while (true) {
      const response = await this.response();
      if (!response || response.status >= 200 || response.status < 100) {
        return { response, interims };
      }
      interims++;
    }
  }
  close(): void {
    closeQuietly(this.conn);
  }
}

async function withProxy(
  f: (proxyPort: number, good: ReturnType<typeof honest>) => Promise<void>,
  extra = {},
) {
  const w = await world();
  const good = honest();
  try {
    const session = await w.connect({ method: "http", ...extra });
    await f(session.server.addr.port, good);
  } finally {
    good.close();
    await w.close();
  }
}

/**
 * The bad responses. Each is followed by FORGED in the same write; the first request gets a
 * 502 from ktctl (or, where noted, what the client may see), never the forgery.
 */
const BAD_RESPONSES: [name: string, reply: string][] = [
  [
    "Connection naming Transfer-Encoding (with a Content-Length: 0 for the client to trust)",
    "HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n" +
    `Content-Length: 0\r\n\r\n${FORGED.length.toString(16)}\r\n${FORGED}\r\n0\r\n\r\n`,
  ],
  [
    "Connection naming Transfer-Encoding alone",
    "HTTP/1.1 200 OK\r\nConnection: keep-alive, transfer-encoding\r\nTransfer-Encoding: chunked\r\n" +
    `\r\n${FORGED.length.toString(16)}\r\n${FORGED}\r\n0\r\n\r\n`,
  ],
  [
    "Connection naming Content-Length",
    `HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: ${FORGED.length}\r\n\r\n${FORGED}`,
  ],
  [
    "both Content-Length and Transfer-Encoding",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n" +
    `${FORGED.length.toString(16)}\r\n${FORGED}\r\n0\r\n\r\n`,
  ],
  ["status 000", `HTTP/1.1 000 OK\r\nContent-Length: 0\r\n\r\n${FORGED}`],
  ["a 101 nobody asked for", `HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n${FORGED}`],
  ["more than five 1xx", "HTTP/1.1 102 Processing\r\n\r\n".repeat(8) + FORGED],
  [
    "duplicate Content-Length",
    `HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n${FORGED}`,
  ],
  ["Content-Length as a list", `HTTP/1.1 200 OK\r\nContent-Length: 0, 0\r\n\r\n${FORGED}`],
  [
    "an empty Transfer-Encoding",
    `HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\nContent-Length: 0\r\n\r\n${FORGED}`,
  ],
  ["a bare LF", `HTTP/1.1 200 OK\nContent-Length: 0\n\n${FORGED}`],
  ["obs-fold", `HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n${FORGED}`],
  ["a space before the colon", `HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n${FORGED}`],
];

Deno.test(
  "hostile origin: a bad response is a 502, and the next host on the same connection is never answered by the forgery",
  opts,
  async (t) => {
    await withProxy(async (proxyPort, good) => {
      for (const [name, reply] of BAD_RESPONSES) {
        await t.step(name, async () => {
          const evil = hostile(reply);
          const c = await Client.open(proxyPort);
          try {
            await c.send(
              `GET http://127.0.0.1:${evil.port}/first HTTP/1.1\r\nHost: 127.0.0.1:${evil.port}\r\n\r\n`,
            );
            const { response: first, interims } = await c.final();
            // The second request, to another host, on the same connection.
            await c.send(
              `GET http://127.0.0.1:${good.port}/second HTTP/1.1\r\nHost: 127.0.0.1:${good.port}\r\n\r\n`,
            ).catch(() => {});
            const second = await c.response();
            // The attack: the first origin's bytes taken for the second host's answer.
            assert.doesNotMatch(JSON.stringify(second ?? ""), /FORGED|X-Forged/);
            // A 502 before any final response keeps the client connection (its request was
            // read whole): the next request on it goes to the honest host, and only there.
            assert.equal(second?.body, `GOOD GET /second HTTP/1.1 host=127.0.0.1:${good.port}`);
            assert.ok(first, "ktctl answered the first request");
            assert.equal(first.status, 502, first.head);
            assert.ok(interims <= 5, `${interims} interim responses relayed`);
            assert.doesNotMatch(first.head + first.body, /FORGED|X-Forged/);
            // Nothing else arrived (the proxy may keep the connection for a third request).
            assert.doesNotMatch(dec(c.r.buf), /FORGED/);
          } finally {
            c.close();
            evil.close();
          }
        });
      }
    });
  },
);

Deno.test(
  "hostile origin: curl and Python requests reuse the proxy connection and still get the honest host's answer",
  opts,
  async () => {
    await withProxy(async (proxyPort, good) => {
      const evil = hostile(BAD_RESPONSES[0][1]);
      try {
        const proxy = `http://127.0.0.1:${proxyPort}`;
        const evilUrl = `http://127.0.0.1:${evil.port}/first`;
        const goodUrl = `http://127.0.0.1:${good.port}/second`;
        const curl = await new Deno.Command("curl", {
          args: ["-sS", "-v", "--max-time", "10", "--proxy", proxy, evilUrl, goodUrl],
          env: { no_proxy: "", NO_PROXY: "" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const out = dec(curl.stdout);
        assert.doesNotMatch(out, /FORGED/, out);
        // The second URL went over the same proxy connection: where the forgery would have hit.
        assert.match(dec(curl.stderr), /Re-using existing connection/);
        assert.match(
          out,
          new RegExp(`GOOD GET /second HTTP/1\\.1 host=127\\.0\\.0\\.1:${good.port}$`),
        );
        const py = await new Deno.Command("python3", {
          args: [
            "-c",
            `import sys, requests
s = requests.Session()
p = {"http": sys.argv[1]}
first = s.get(sys.argv[2], proxies=p, timeout=10)
second = s.get(sys.argv[3], proxies=p, timeout=10)
print(first.status_code, repr(first.text))
print(second.status_code, repr(second.text))`,
            proxy,
            evilUrl,
            goodUrl,
          ],
          env: { no_proxy: "", NO_PROXY: "" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const lines = dec(py.stdout).trim().split("\n");
        assert.equal(py.code, 0, dec(py.stderr));
        assert.match(lines[0], /^502 /);
        assert.doesNotMatch(lines.join("\n"), /FORGED/);
        assert.equal(
          lines[1],
          `200 'GOOD GET /second HTTP/1.1 host=127.0.0.1:${good.port}'`,
        );
      } finally {
        evil.close();
      }
    });
  },
);

Deno.test(
  "hostile origin: no 1xx reaches an HTTP/1.0 client, and a chunked answer to it is refused",
  opts,
  async () => {
    await withProxy(async (proxyPort) => {
      const early = hostile(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
      );
      const chunked = hostile(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      );
      try {
        const c = await Client.open(proxyPort);
        await c.send(`GET http://127.0.0.1:${early.port}/ HTTP/1.0\r\n\r\n`);
        const r = await c.response();
        assert.equal(r?.status, 200, r?.head ?? "closed");
        assert.equal(r?.body, "ok");
        c.close();
        const c2 = await Client.open(proxyPort);
        await c2.send(`GET http://127.0.0.1:${chunked.port}/ HTTP/1.0\r\n\r\n`);
        assert.equal((await c2.response())?.status, 502);
        c2.close();
      } finally {
        early.close();
        chunked.close();
      }
    });
  },
);

Deno.test(
  "hostile origin: refused before the client's body came, the answer is a 502 and a close",
  opts,
  async () => {
    await withProxy(async (proxyPort) => {
      // The client waits for 100 Continue before its body; the origin answers at once, badly.
      const evil = hostile(BAD_RESPONSES[3][1]);
      const c = await Client.open(proxyPort);
      try {
        await c.send(
          `POST http://127.0.0.1:${evil.port}/ HTTP/1.1\r\nContent-Length: 5\r\n` +
            "Expect: 100-continue\r\n\r\n",
        );
        const r = await c.response();
        assert.equal(r?.status, 502, r?.head ?? "closed");
        assert.match(r?.head ?? "", /\r\nConnection: close/);
        // The body that never came cannot be told from a next request: the connection ends.
        assert.equal(await c.r.rest(), "");
      } finally {
        c.close();
        evil.close();
      }
    });
  },
);

/** Request bodies that look like a second request: what an origin would run if framing slipped. */
const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

const BAD_REQUESTS: [name: string, head: string][] = [
  [
    "Connection naming Content-Length",
    `Connection: Content-Length\r\nContent-Length: ${SMUGGLED.length}`,
  ],
  [
    "Proxy-Connection naming Content-Length",
    `Proxy-Connection: content-length\r\nContent-Length: ${SMUGGLED.length}`,
  ],
  [
    "Connection naming Transfer-Encoding",
    "Connection: transfer-encoding\r\nTransfer-Encoding: chunked",
  ],
  ["CL.TE", `Content-Length: ${SMUGGLED.length}\r\nTransfer-Encoding: chunked`],
  ["TE.CL", `Transfer-Encoding: chunked\r\nContent-Length: ${SMUGGLED.length}`],
  ["Transfer-Encoding: chunked, identity", "Transfer-Encoding: chunked, identity"],
  ["Transfer-Encoding: identity, chunked", "Transfer-Encoding: identity, chunked"],
  ["Transfer-Encoding : chunked", "Transfer-Encoding : chunked"],
  ["Transfer-Encoding with a tab before its name", "\tTransfer-Encoding: chunked"],
  [
    "Transfer-Encoding: xchunked",
    `Transfer-Encoding: xchunked\r\nContent-Length: ${SMUGGLED.length}`,
  ],
  ["duplicate Content-Length", `Content-Length: ${SMUGGLED.length}\r\nContent-Length: 0`],
  ["duplicate Host", "Host: a.example\r\nHost: b.example"],
];

Deno.test(
  "hostile client: requests an origin could frame differently are refused with 400 and nothing reaches the origin",
  opts,
  async (t) => {
    await withProxy(async (proxyPort, good) => {
      for (const [name, fields] of BAD_REQUESTS) {
        await t.step(name, async () => {
          good.seen.length = 0;
          const c = await Client.open(proxyPort);
          try {
            await c.send(
              `POST http://127.0.0.1:${good.port}/post HTTP/1.1\r\n${fields}\r\n\r\n${SMUGGLED}`,
            );
            const r = await c.response();
            assert.equal(r?.status, 400, r?.head ?? "closed");
            assert.match(r?.head ?? "", /\r\nConnection: close/);
            assert.equal(await c.r.rest(), "");
            assert.deepEqual(good.seen, []);
          } finally {
            c.close();
          }
        });
      }
    });
  },
);

Deno.test(
  "hostile client: Host is the request target's authority, whatever the client's Host says",
  opts,
  async () => {
    await withProxy(async (proxyPort, good) => {
      const c = await Client.open(proxyPort);
      try {
        await c.send(
          `GET http://user:pw@127.0.0.1:${good.port}/a?b HTTP/1.1\r\nHost: evil.example\r\n\r\n` +
            `GET http://127.0.0.1:${good.port}/c HTTP/1.1\r\n\r\n` +
            `POST http://127.0.0.1:${good.port}/d HTTP/1.1\r\nContent-Length:  3 \r\n\r\nabc`,
        );
        assert.equal(
          (await c.response())?.body,
          `GOOD GET /a?b HTTP/1.1 host=127.0.0.1:${good.port}`,
        );
        assert.equal(
          (await c.response())?.body,
          `GOOD GET /c HTTP/1.1 host=127.0.0.1:${good.port}`,
        );
        assert.equal(
          (await c.response())?.body,
          `GOOD POST /d HTTP/1.1 host=127.0.0.1:${good.port}`,
        );
        // The origin got one Host each, and the body framed by the Content-Length ktctl wrote.
        for (const head of good.seen.filter((h) => !h.startsWith("body:"))) {
          assert.equal(head.match(/\r\nhost:/gi)?.length, 1, head);
        }
        assert.match(good.seen.join("\n"), /\r\nContent-Length: 3\nbody:abc/);
      } finally {
        c.close();
      }
    });
  },
);

/**
 * A 10 KB head of many fields: re-parsed from its start on every read (the old driver) it cost
 * 2-3 s of CPU when each byte came on its own (ktctl then only reads: about 0.3 s).
 */
const MANY_FIELDS = Array.from({ length: 95 }, (_, i) => `X-${i}: ${"v".repeat(100)}\r\n`).join("");

Deno.test(
  "hostile peers: a head paced a byte at a time costs ktctl CPU linear in its length",
  opts,
  async () => {
    const good = honest();
    const listener = ProxyListener.listen({
      hostname: "127.0.0.1",
      port: 0,
      timeouts: { handshakeMs: 60_000 },
    });
    listener.serve({
      dialer: {
        async dial(_host, port) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          return { upstream: new TcpUpstream(conn, "test"), via: "test" };
        },
      },
      pages: { pac: () => "", about: () => "" },
    });
    try {
      const head = `GET http://127.0.0.1:${good.port}/slow HTTP/1.1\r\n${MANY_FIELDS}\r\n`;
      // The client is another process (its CPU is not counted): a byte, then a millisecond.
      const script = `import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for b in sys.argv[2].encode("latin1"):
    s.send(bytes([b]))
    time.sleep(0.001)
print(s.recv(65536).split(b"\\r\\n")[0].decode())`;
      const before = process.cpuUsage();
      const out = await new Deno.Command("python3", {
        args: ["-c", script, String(listener.addr.port), head],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const used = process.cpuUsage(before);
      assert.equal(dec(out.stdout).trim(), "HTTP/1.1 200 OK", dec(out.stderr));
      const seconds = (used.user + used.system) / 1e6;
      console.log(`a ${head.length} B head, a byte per ms: ${seconds.toFixed(3)} s of ktctl CPU`);
      assert.ok(seconds < 1.2, `${seconds.toFixed(2)} s of CPU for one ${head.length} B head`);
    } finally {
      await listener.close();
      good.close();
    }
  },
);
