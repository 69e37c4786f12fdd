/**
 * The HTTP proxy front over real loopback connections: ProxyListener with a dialer that maps
 * names to loopback servers (Deno.serve, hyper underneath, as the real origin; raw TCP servers
 * for the faults hyper will not produce). Keep-alive and pipelining to two hosts, bodies,
 * 100-continue, WebSocket upgrade, CONNECT, ktctl's own pages, malformed, oversized and slow
 * heads, failures as statuses, and refused peers in all three protocols.
 */
import assert from "node:assert/strict";
import { ProxyListener } from "../../../../src/front/listener.ts";
import type { AdmissionCheck, Dialer } from "../../../../src/front/dialer.ts";
import type { FrontTimeouts } from "../../../../src/front/session.ts";
import { TcpUpstream } from "../../../../src/route/direct.ts";
import { DialError, type DialFailure } from "../../../../src/net/upstream.ts";
import { closeQuietly, concat, writeAll } from "../../../../src/net/io.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A Deno.serve origin that says who it is and what it got; `/ws` upgrades to an echo socket. */
function origin(label: string) {
  let connections = 0;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, async (req, info) => {
    void info;
    const url = new URL(req.url);
    if (url.pathname === "/ws") {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (e) => socket.send(`echo:${e.data}`);
      return response;
    }
    const body = new Uint8Array(await req.arrayBuffer());
    const sum = body.reduce((a, b) => (a + b) % 65521, 0);
    return new Response(
      `${label} ${req.method} ${url.pathname}${url.search} host=${req.headers.get("host")} ` +
        `body=${body.length}/${sum} proxy-auth=${req.headers.get("proxy-authorization")}\n`,
    );
  });
  // hyper does not expose connections; count them with a TCP relay in front.
  const front = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const c of front) {
      connections++;
      const back = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      c.readable.pipeTo(back.writable).catch(() => {});
      back.readable.pipeTo(c.writable).catch(() => {});
    }
  })().catch(() => {});
  return {
    port: front.addr.port,
    get connections() {
      return connections;
    },
    async close() {
      closeQuietly(front);
      await server.shutdown();
    },
  };
}

/** A raw TCP origin: `handle` gets each connection. */
function rawOrigin(handle: (conn: Deno.Conn) => Promise<void>) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const c of l) {
      open.add(c);
      handle(c).catch(() => {}).finally(() => {
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

/** Names to loopback ports; other names fail with the DialError kind they are named after. */
function dialer(routes: Record<string, number>): Dialer {
  return {
    async dial(host, port) {
      const target = routes[`${host}:${port}`] ?? routes[host];
      if (target === undefined) {
        const kind = (host.split(".")[0] as DialFailure) ?? "failed";
        throw new DialError(kind, `test dialer: ${host} is ${kind}`);
      }
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: target });
      return { upstream: new TcpUpstream(conn, `test ${host}`), via: `test ${host}` };
    },
  };
}

interface Front {
  port: number;
  listener: ProxyListener;
  close(): Promise<void>;
}

function front(
  d: Dialer,
  opts: { timeouts?: Partial<FrontTimeouts>; admit?: AdmissionCheck } = {},
): Front {
  const listener = ProxyListener.listen({
    hostname: "127.0.0.1",
    port: 0,
    timeouts: opts.timeouts,
  });
  listener.serve({
    dialer: d,
    pages: {
      pac: () => 'function FindProxyForURL(u, h) { return "DIRECT"; }\n',
      about: () => "<p>ktctl</p>",
    },
    admit: opts.admit,
  });
  return { port: listener.addr.port, listener, close: () => listener.close() };
}

/** A client connection that reads HTTP responses off one connection, as a proxy client does. */
class Client {
  #buf: Uint8Array = new Uint8Array(0);
  private constructor(readonly conn: Deno.TcpConn) {}

  static async open(port: number): Promise<Client> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new Client(conn);
  }

  send(text: string | Uint8Array): Promise<void> {
    return writeAll(this.conn, typeof text === "string" ? enc(text) : text);
  }

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
    return true;
  }

  /** The next response: head text, fields by lower-case name, and a Content-Length body. */
  async response(opts: { head?: boolean } = {}): Promise<
    { head: string; status: number; fields: Map<string, string>; body: string }
  > {
    let end;
    while ((end = dec(this.#buf).indexOf("\r\n\r\n")) < 0) {
      if (!(await this.#more())) {
        throw new Error(`closed before a response head: ${dec(this.#buf)}`);
      }
    }
    const head = dec(this.#buf.subarray(0, end));
    this.#buf = this.#buf.subarray(end + 4);
    const fields = new Map<string, string>();
    for (const line of head.split("\r\n").slice(1)) {
      const i = line.indexOf(":");
      fields.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
    }
    const status = Number(head.split(" ")[1]);
    const length = opts.head ? 0 : Number(fields.get("content-length") ?? 0);
    while (this.#buf.length < length) {
      if (!(await this.#more())) throw new Error("closed before the end of the body");
    }
    const body = dec(this.#buf.subarray(0, length));
    this.#buf = this.#buf.subarray(length);
    return { head, status, fields, body };
  }

  /** Everything until the peer closes. */
  async rest(): Promise<string> {
    while (await this.#more().catch(() => false)) { /* read on */ }
    return dec(this.#buf);
  }

  /** True once the proxy has closed the connection (a read sees the end). */
  async closedByPeer(): Promise<boolean> {
    try {
      return !(await this.#more());
    } catch {
      return true;
    }
  }

  close(): void {
    closeQuietly(this.conn);
  }
}

async function withSetup(
  body: (
    ctx: { a: ReturnType<typeof origin>; b: ReturnType<typeof origin>; f: Front },
  ) => Promise<void>,
  opts: { timeouts?: Partial<FrontTimeouts>; admit?: AdmissionCheck } = {},
): Promise<void> {
  const a = origin("A");
  const b = origin("B");
  const f = front(dialer({ "web.demo": a.port, "api.other": b.port, "10.96.0.10": a.port }), opts);
  try {
    await body({ a, b, f });
  } finally {
    await f.close();
    await a.close();
    await b.close();
  }
}

Deno.test("http front: pipelined keep-alive requests to two hosts on one connection, in order", async () => {
  await withSetup(async ({ a, b, f }) => {
    const c = await Client.open(f.port);
    await c.send(
      "GET http://web.demo/one?x=1 HTTP/1.1\r\nHost: web.demo\r\nProxy-Authorization: Basic eA==\r\n\r\n" +
        "GET http://api.other/two HTTP/1.1\r\nHost: api.other\r\n\r\n" +
        "GET http://web.demo/three HTTP/1.1\r\nHost: web.demo\r\n\r\n",
    );
    const r1 = await c.response();
    const r2 = await c.response();
    const r3 = await c.response();
    assert.equal(r1.status, 200);
    assert.equal(r1.body, "A GET /one?x=1 host=web.demo body=0/0 proxy-auth=null\n");
    assert.equal(r2.body, "B GET /two host=api.other body=0/0 proxy-auth=null\n");
    assert.equal(r3.body, "A GET /three host=web.demo body=0/0 proxy-auth=null\n");
    // Still open for more: a fourth request on the same connection goes back to A's connection.
    await c.send("GET http://web.demo/four HTTP/1.1\r\nHost: web.demo\r\n\r\n");
    assert.match((await c.response()).body, /^A GET \/four /);
    assert.equal(f.listener.connections, 1);
    // Switching hosts closed A's connection, so A saw two; B one.
    assert.equal(a.connections, 2);
    assert.equal(b.connections, 1);
    c.close();
  });
});

Deno.test("http front: request bodies, by Content-Length and chunked, reach the origin whole", async () => {
  await withSetup(async ({ f }) => {
    const c = await Client.open(f.port);
    const data = new Uint8Array(300_000).map((_, i) => (i * 7) % 256);
    const sum = data.reduce((x, y) => (x + y) % 65521, 0);
    await c.send(
      `POST http://web.demo/up HTTP/1.1\r\nHost: web.demo\r\nContent-Length: ${data.length}\r\n\r\n`,
    );
    await c.send(data);
    assert.equal(
      (await c.response()).body,
      `A POST /up host=web.demo body=${data.length}/${sum} proxy-auth=null\n`,
    );
    await c.send(
      "PUT http://web.demo/chunked HTTP/1.1\r\nHost: web.demo\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for (let i = 0; i < data.length; i += 70_000) {
      const part = data.subarray(i, Math.min(data.length, i + 70_000));
      await c.send(`${part.length.toString(16)}\r\n`);
      await c.send(part);
      await c.send("\r\n");
    }
    await c.send("0\r\n\r\n");
    assert.equal(
      (await c.response()).body,
      `A PUT /chunked host=web.demo body=${data.length}/${sum} proxy-auth=null\n`,
    );
    c.close();
  });
});

Deno.test("http front: Expect: 100-continue gets the origin's 100 before the body is sent", async () => {
  await withSetup(async ({ f }) => {
    const c = await Client.open(f.port);
    await c.send(
      "POST http://web.demo/e HTTP/1.1\r\nHost: web.demo\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    const interim = await c.response();
    assert.equal(interim.status, 100, interim.head);
    await c.send("hello");
    const final = await c.response();
    assert.equal(final.status, 200);
    assert.match(final.body, /body=5\//);
    c.close();
  });
});

Deno.test("http front: a WebSocket upgrade in absolute form becomes a tunnel", async () => {
  await withSetup(async ({ f }) => {
    const c = await Client.open(f.port);
    await c.send(
      "GET http://web.demo/ws HTTP/1.1\r\nHost: web.demo\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    const r = await c.response();
    assert.equal(r.status, 101, r.head);
    assert.equal(r.fields.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert.equal(r.fields.get("upgrade")?.toLowerCase(), "websocket");
    // A masked text frame "hi"; the echo comes back unmasked as "echo:hi".
    const mask = [1, 2, 3, 4];
    const payload = [..."hi"].map((ch, i) => ch.charCodeAt(0) ^ mask[i % 4]);
    await c.send(new Uint8Array([0x81, 0x80 | 2, ...mask, ...payload]));
    const frame = await readFrame(c);
    assert.equal(frame, "echo:hi");
    c.close();
  });
});

async function readFrame(c: Client): Promise<string> {
  const head = new Uint8Array(2);
  await readFull(c.conn, head);
  const body = new Uint8Array(head[1] & 0x7f);
  await readFull(c.conn, body);
  return dec(body);
}

async function readFull(conn: Deno.Conn, into: Uint8Array): Promise<void> {
  let off = 0;
  while (off < into.length) {
    const n = await conn.read(into.subarray(off));
    if (n === null) throw new Error("closed");
    off += n;
  }
}

Deno.test("http front: CONNECT answers 200 and tunnels bytes, early data included", async () => {
  await withSetup(async ({ f }) => {
    const c = await Client.open(f.port);
    // The request inside the tunnel is sent in the same write as CONNECT.
    await c.send(
      "CONNECT web.demo:80 HTTP/1.1\r\nHost: web.demo:80\r\n\r\nGET /in HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const ok = await c.response();
    assert.equal(ok.head, "HTTP/1.1 200 Connection established");
    const inner = await c.response();
    assert.match(inner.body, /^A GET \/in host=x /);
    c.close();
  });
});

Deno.test("http front: dial failures are statuses with a reason, and keep a bodiless connection", async () => {
  await withSetup(async ({ f }) => {
    const c = await Client.open(f.port);
    const cases: [DialFailure, number][] = [
      ["unknown-host", 502],
      ["no-endpoints", 502],
      ["refused", 502],
      ["forbidden", 502],
      ["policy", 502],
      ["timeout", 504],
    ];
    for (const [kind, status] of cases) {
      await c.send(`GET http://${kind}.example/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      const r = await c.response();
      assert.equal(r.status, status, kind);
      assert.equal(r.fields.get("x-ktctl-error"), kind);
      assert.equal(
        r.body,
        `ktctl could not reach ${kind}.example:80: test dialer: ${kind}.example is ${kind}\n`,
      );
    }
    // The same connection still serves a request that works.
    await c.send("GET http://web.demo/after HTTP/1.1\r\nHost: web.demo\r\n\r\n");
    assert.match((await c.response()).body, /^A GET \/after /);
    // CONNECT failures close the connection (nothing after them is HTTP).
    await c.send("CONNECT refused.example:443 HTTP/1.1\r\n\r\n");
    assert.equal((await c.response()).status, 502);
    assert.equal(await c.closedByPeer(), true);
    c.close();
  });
});

Deno.test("http front: ktctl's own address serves its pages and is never proxied", async () => {
  await withSetup(async ({ f }) => {
    const c = await Client.open(f.port);
    await c.send(`GET http://127.0.0.1:${f.port}/proxy.pac HTTP/1.1\r\nHost: x\r\n\r\n`);
    const pac = await c.response();
    assert.equal(pac.fields.get("content-type"), "application/x-ns-proxy-autoconfig");
    assert.match(pac.body, /FindProxyForURL/);
    await c.send(`GET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1:${f.port}\r\n\r\n`);
    assert.match((await c.response()).body, /FindProxyForURL/);
    await c.send(`GET http://localhost:${f.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const about = await c.response();
    assert.equal(about.fields.get("content-type"), "text/html; charset=utf-8");
    assert.equal(about.body, "<p>ktctl</p>");
    await c.send(`HEAD /nothing HTTP/1.1\r\nHost: localhost:${f.port}\r\n\r\n`);
    const missing = await c.response({ head: true });
    assert.equal(missing.status, 404);
    await c.send(`HEAD /proxy.pac HTTP/1.1\r\nHost: [::1]:${f.port}\r\n\r\n`);
    const pacHead = await c.response({ head: true });
    assert.equal(pacHead.fields.get("content-length"), String(pac.body.length));
    await c.send(`DELETE /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1:${f.port}\r\n\r\n`);
    assert.equal((await c.response()).status, 405);
    await c.send(`CONNECT 127.0.0.1:${f.port} HTTP/1.1\r\n\r\n`);
    const loop = await c.response();
    assert.equal(loop.status, 400);
    assert.match(loop.body, /own address/);
    c.close();
  });
});

Deno.test("http front: malformed and oversized heads get 400, 414, 431 or 505 and a close", async () => {
  await withSetup(async ({ f }) => {
    const cases: [string, number][] = [
      ["GET http://web.demo/ HTTP/1.1\r\nHost : x\r\n\r\n", 400],
      ["GET http://web.demo/ HTTP/1.1\nHost: x\n\n", 400],
      [`GET http://web.demo/${"a".repeat(9000)} HTTP/1.1\r\n\r\n`, 414],
      [`GET http://web.demo/ HTTP/1.1\r\n${"X-A: 1\r\n".repeat(101)}\r\n`, 431],
      [`GET http://web.demo/ HTTP/1.1\r\nX: ${"a".repeat(40_000)}\r\n\r\n`, 431],
      ["GET http://web.demo/ HTTP/3\r\n\r\n", 505],
      ["GET ftp://web.demo/ HTTP/1.1\r\n\r\n", 400],
      [
        "POST http://web.demo/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
      ],
      ["GET https://web.demo/ HTTP/1.1\r\n\r\n", 501],
    ];
    for (const [request, status] of cases) {
      const c = await Client.open(f.port);
      await c.send(request).catch(() => {});
      const r = await c.response();
      assert.equal(r.status, status, request.slice(0, 60));
      assert.equal(r.fields.get("connection"), "close");
      assert.equal(await c.closedByPeer(), true);
      c.close();
    }
  });
});

Deno.test("http front: a head that never ends gets 408 at the deadline; an idle connection is closed", async () => {
  await withSetup(async ({ f }) => {
    const c = await Client.open(f.port);
    await c.send("GET http://web.demo/ HTTP/1.1\r\nHost: web");
    assert.match(await c.rest(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
    c.close();
    const idle = await Client.open(f.port);
    await idle.send("GET http://web.demo/ HTTP/1.1\r\nHost: web.demo\r\n\r\n");
    assert.equal((await idle.response()).status, 200);
    // Nothing more is sent: the keep-alive connection ends at the idle deadline, silently.
    assert.equal(await idle.rest(), "");
    idle.close();
  }, { timeouts: { handshakeMs: 300, idleMs: 300 } });
});

Deno.test("http front: an origin that closes a kept connection is dialled again for a bodiless request", async () => {
  let served = 0;
  const o = rawOrigin(async (conn) => {
    // Answers one request per connection without saying it will close, then closes.
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) return;
      text += dec(buf.subarray(0, n));
    }
    served++;
    await writeAll(
      conn,
      enc(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${served % 10}${served % 10}`),
    );
  });
  const f = front(dialer({ "flaky.demo": o.port }));
  try {
    const c = await Client.open(f.port);
    for (let i = 1; i <= 3; i++) {
      await c.send("GET http://flaky.demo/ HTTP/1.1\r\nHost: flaky.demo\r\n\r\n");
      const r = await c.response();
      assert.equal(r.status, 200, r.head);
      assert.equal(r.body, `${i}${i}`);
    }
    c.close();
  } finally {
    await f.close();
    o.close();
  }
});

Deno.test("http front: a response delimited by close is passed on and ends the client connection", async () => {
  const o = rawOrigin(async (conn) => {
    const buf = new Uint8Array(4096);
    await conn.read(buf);
    await writeAll(conn, enc("HTTP/1.1 200 OK\r\nX-Old: 1\r\n\r\nstreamed until close"));
  });
  const f = front(dialer({ "old.demo": o.port }));
  try {
    const c = await Client.open(f.port);
    await c.send("GET http://old.demo/ HTTP/1.1\r\nHost: old.demo\r\n\r\n");
    const all = await c.rest();
    assert.match(
      all,
      /^HTTP\/1\.1 200 OK\r\nX-Old: 1\r\nConnection: close\r\n\r\nstreamed until close$/,
    );
    c.close();
  } finally {
    await f.close();
    o.close();
  }
});

Deno.test("http front: an origin that breaks off its response makes the proxy cut the client off", async () => {
  const o = rawOrigin(async (conn) => {
    const buf = new Uint8Array(4096);
    await conn.read(buf);
    await writeAll(conn, enc("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"));
  });
  const f = front(dialer({ "broken.demo": o.port }));
  try {
    const c = await Client.open(f.port);
    await c.send("GET http://broken.demo/ HTTP/1.1\r\nHost: broken.demo\r\n\r\n");
    const all = await c.rest();
    // The client sees fewer bytes than announced and the close: never a complete-looking response.
    assert.match(all, /Content-Length: 100\r\n\r\nonly part$/);
    c.close();
  } finally {
    await f.close();
    o.close();
  }
});

Deno.test("http front: a garbled response head is a 502", async () => {
  const o = rawOrigin(async (conn) => {
    const buf = new Uint8Array(4096);
    await conn.read(buf);
    await writeAll(conn, enc("HTTP/1.1 200 OK\r\nBad Field\r\n\r\n"));
  });
  const f = front(dialer({ "garbled.demo": o.port }));
  try {
    const c = await Client.open(f.port);
    await c.send("GET http://garbled.demo/ HTTP/1.1\r\nHost: garbled.demo\r\n\r\n");
    const r = await c.response();
    assert.equal(r.status, 502);
    assert.match(r.body, /not valid HTTP/);
    c.close();
  } finally {
    await f.close();
    o.close();
  }
});

Deno.test("front: a refused peer is closed at accept, before a byte is read, in every protocol", async () => {
  const checked: string[] = [];
  const admit: AdmissionCheck = (_local, remote) => {
    checked.push(remote.hostname);
    return Promise.resolve({ allowed: false, detail: "uid 65534 is not this user" });
  };
  await withSetup(async ({ f }) => {
    for (
      const first of [
        enc("GET http://web.demo/ HTTP/1.1\r\nHost: web.demo\r\n\r\n"),
        new Uint8Array([5, 1, 0]),
        new Uint8Array([4, 1, 0, 80, 10, 96, 0, 10, 0]),
      ]
    ) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: f.port });
      await writeAll(c, first).catch(() => {});
      // No answer of any protocol: the connection ends without a byte.
      const buf = new Uint8Array(16);
      const n = await c.read(buf).catch(() => null);
      assert.equal(n, null);
      closeQuietly(c);
    }
    assert.deepEqual(checked, ["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
  }, { admit });
});

Deno.test("front: SOCKS to ktctl's own address is refused, not looped", async () => {
  await withSetup(async ({ f }) => {
    const s5 = await Deno.connect({ hostname: "127.0.0.1", port: f.port });
    await writeAll(
      s5,
      new Uint8Array([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, f.port >> 8, f.port & 255]),
    );
    const reply = new Uint8Array(12);
    await readFull(s5, reply);
    assert.deepEqual([...reply.subarray(0, 4)], [5, 0, 5, 0x02]);
    closeQuietly(s5);
  });
});
