/**
 * The HTTP front's pure parts, byte by byte: request and response heads, request targets, body
 * framing (Content-Length, chunked), the heads ktctl forwards, and the PAC file.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_LIMITS,
  fieldTokens,
  type HeadParse,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from "../../../../src/front/http/head.ts";
import { parseTarget } from "../../../../src/front/http/target.ts";
import {
  BodyFramer,
  type Framing,
  FramingError,
  requestFraming,
  responseFraming,
} from "../../../../src/front/http/body.ts";
import {
  clientKeepsAlive,
  localResponse,
  planRequest,
  planResponse,
  type RequestPlan,
  type ResponsePlan,
} from "../../../../src/front/http/messages.ts";
import { pacDirective, renderPac } from "../../../../src/front/http/pac.ts";
import { sniff } from "../../../../src/front/sniff.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function done<T>(r: HeadParse<T>): { head: T; consumed: number } {
  assert.equal(r.status, "done", JSON.stringify(r));
  return r as { status: "done"; head: T; consumed: number };
}

function req(text: string): RequestHead {
  return done(parseRequestHead(enc(text))).head;
}

Deno.test("http head: a request head parses, and every proper prefix of it asks for more", () => {
  const text =
    "GET http://web.demo/a?b=1 HTTP/1.1\r\nHost: web.demo\r\nX-A:  v  \r\nX-B:\r\n\r\nBODY";
  const bytes = enc(text);
  const full = done(parseRequestHead(bytes));
  assert.equal(full.consumed, text.indexOf("BODY"));
  assert.deepEqual(full.head, {
    method: "GET",
    target: "http://web.demo/a?b=1",
    minor: 1,
    fields: [["Host", "web.demo"], ["X-A", "v"], ["X-B", ""]],
  });
  for (let n = 0; n < full.consumed; n++) {
    assert.deepEqual(parseRequestHead(bytes.subarray(0, n)), { status: "more" }, `prefix ${n}`);
  }
});

Deno.test("http head: empty lines before the request line are skipped, a few at most", () => {
  assert.equal(req("\r\n\r\nGET / HTTP/1.0\r\n\r\n").minor, 0);
  const r = parseRequestHead(enc("\r\n".repeat(5) + "GET / HTTP/1.1\r\n\r\n"));
  assert.equal(r.status, "invalid");
});

Deno.test("http head: malformed heads are refused with the status that fits", () => {
  const cases: [string, string][] = [
    ["GET / HTTP/1.1\nHost: x\r\n\r\n", "bad-request"], // bare LF
    ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", "bad-request"], // space before colon
    ["GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "bad-request"], // obs-fold
    ["GET / HTTP/1.1\r\nNoColon\r\n\r\n", "bad-request"],
    ["GET / HTTP/1.1\r\n: x\r\n\r\n", "bad-request"],
    ["GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", "bad-request"],
    ["GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", "bad-request"],
    ["GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", "bad-request"],
    ["GET  / HTTP/1.1\r\n\r\n", "bad-request"],
    ["GET / HTTP/1.1 \r\n\r\n", "bad-request"],
    ["G(T / HTTP/1.1\r\n\r\n", "bad-request"],
    ["GET /\x7f HTTP/1.1\r\n\r\n", "bad-request"],
    ["GET / HTTP/2.0\r\n\r\n", "version"],
    ["GET / http/1.1\r\n\r\n", "version"],
    ["GET /\r\n\r\n", "bad-request"],
  ];
  for (const [text, problem] of cases) {
    const r = parseRequestHead(enc(text));
    assert.equal(r.status, "invalid", JSON.stringify(text));
    assert.equal((r as { problem: string }).problem, problem, JSON.stringify(text));
  }
});

Deno.test("http head: the limits on the request line, the head and the field count hold", () => {
  const limits = { maxStartLine: 64, maxHead: 256, maxFields: 3 };
  const longLine = `GET /${"a".repeat(100)} HTTP/1.1\r\n\r\n`;
  assert.deepEqual(
    pick(parseRequestHead(enc(longLine), limits)),
    "uri-too-long",
  );
  // Refused as soon as the limit is passed, not when the line ends.
  assert.equal(pick(parseRequestHead(enc(`GET /${"a".repeat(100)}`), limits)), "uri-too-long");
  const exact = `GET /${"a".repeat(64 - 14)} HTTP/1.1`;
  assert.equal(exact.length, 64);
  assert.equal(parseRequestHead(enc(exact + "\r\n\r\n"), limits).status, "done");
  const manyFields = "GET / HTTP/1.1\r\n" + "A: 1\r\n".repeat(4) + "\r\n";
  assert.equal(pick(parseRequestHead(enc(manyFields), limits)), "head-too-large");
  const bigHead = "GET / HTTP/1.1\r\nA: " + "x".repeat(300) + "\r\n\r\n";
  assert.equal(pick(parseRequestHead(enc(bigHead), limits)), "head-too-large");
  // A head that never ends is refused once it passes the limit, whatever it holds.
  assert.equal(
    pick(parseRequestHead(enc("GET / HTTP/1.1\r\nA: " + "x".repeat(300)), limits)),
    "head-too-large",
  );
  assert.equal(DEFAULT_LIMITS.maxHead, 32 * 1024);
});

function pick(r: HeadParse<unknown>): string {
  return r.status === "invalid" ? r.problem : r.status;
}

Deno.test("http head: response heads, with and without a reason phrase", () => {
  const r = done(parseResponseHead(enc("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")));
  assert.deepEqual(r.head, {
    minor: 1,
    status: 200,
    reason: "OK",
    fields: [["Content-Length", "2"]],
  });
  assert.equal(done(parseResponseHead(enc("HTTP/1.0 204\r\n\r\n"))).head.reason, "");
  assert.equal(parseResponseHead(enc("HTTP/1.1 20 OK\r\n\r\n")).status, "invalid");
  assert.equal(parseResponseHead(enc("ICY 200 OK\r\n\r\n")).status, "invalid");
  assert.equal(parseResponseHead(enc("HTTP/1.1 200 OK\r\n")).status, "more");
});

Deno.test("http head: fieldTokens splits and lower-cases every field of a name", () => {
  const h = req("GET / HTTP/1.1\r\nConnection: Keep-Alive, X-Foo\r\nconnection: close\r\n\r\n");
  assert.deepEqual(fieldTokens(h.fields, "Connection"), ["keep-alive", "x-foo", "close"]);
});

Deno.test("http target: authority, absolute and origin forms", () => {
  assert.deepEqual(parseTarget("CONNECT", "web.demo:443"), {
    ok: true,
    target: { form: "authority", host: "web.demo", port: 443 },
  });
  assert.deepEqual(parseTarget("CONNECT", "[::1]:8443"), {
    ok: true,
    target: { form: "authority", host: "::1", port: 8443 },
  });
  assert.deepEqual(parseTarget("GET", "http://User:pw@Web.Demo./a/../b?q=%2F#frag"), {
    ok: true,
    target: {
      form: "absolute",
      scheme: "http",
      host: "web.demo",
      port: 80,
      authority: "Web.Demo.",
      path: "/a/../b?q=%2F",
    },
  });
  assert.deepEqual(parseTarget("GET", "HTTP://10.96.0.10:8080"), {
    ok: true,
    target: {
      form: "absolute",
      scheme: "http",
      host: "10.96.0.10",
      port: 8080,
      authority: "10.96.0.10:8080",
      path: "/",
    },
  });
  assert.equal(
    (parseTarget("GET", "http://h?x=1") as { target: { path: string } }).target.path,
    "/?x=1",
  );
  assert.deepEqual(parseTarget("GET", "/proxy.pac"), {
    ok: true,
    target: { form: "origin", path: "/proxy.pac" },
  });
  for (
    const [method, bad] of [
      ["CONNECT", "web.demo"],
      ["CONNECT", "web.demo:0"],
      ["CONNECT", "web.demo:65536"],
      ["CONNECT", "web.demo:8a"],
      ["CONNECT", "::1:80"],
      ["CONNECT", "[::1"],
      ["CONNECT", "[web]:80"],
      ["GET", "ftp://x/"],
      ["GET", "*"],
      ["GET", "web.demo/x"],
      ["GET", "http://bad_host!/"],
      ["GET", "http:///x"],
    ]
  ) {
    assert.equal(parseTarget(method, bad).ok, false, `${method} ${bad}`);
  }
});

Deno.test("http body: request framing is strict where proxy and server could disagree", () => {
  const framing = (text: string) => requestFraming(req(text + "\r\n"));
  assert.deepEqual(framing("POST / HTTP/1.1\r\n"), {
    ok: true,
    framing: { kind: "length", length: 0 },
  });
  assert.deepEqual(framing("POST / HTTP/1.1\r\nContent-Length: 12\r\n"), {
    ok: true,
    framing: { kind: "length", length: 12 },
  });
  assert.deepEqual(framing("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n"), {
    ok: true,
    framing: { kind: "chunked" },
  });
  for (
    const bad of [
      "Content-Length: 5\r\nContent-Length: 6\r\n",
      "Content-Length: -1\r\n",
      "Content-Length: 0x10\r\n",
      "Content-Length: 1234567890123456\r\n",
      "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
      "Transfer-Encoding: gzip\r\n",
      "Transfer-Encoding: chunked, gzip\r\n",
      // Servers differ on these: refused, whatever ktctl could make of them.
      "Content-Length: 5, 5\r\n",
      "Content-Length: 5\r\nContent-Length: 5\r\n",
      "Transfer-Encoding: gzip, chunked\r\n",
      "Transfer-Encoding: chunked, chunked\r\n",
      "Transfer-Encoding: identity, chunked\r\n",
      "Transfer-Encoding: chunked;x=1\r\n",
      "Transfer-Encoding: \r\n",
      "Transfer-Encoding: \r\nContent-Length: 5\r\n",
    ]
  ) {
    assert.equal(framing("POST / HTTP/1.1\r\n" + bad).ok, false, bad);
  }
  assert.equal(framing("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n").ok, false);
});

Deno.test("http body: response framing follows the status and the request method", () => {
  const resp = (text: string) => done(parseResponseHead(enc(text + "\r\n"))).head;
  const none = { ok: true, framing: { kind: "length", length: 0 } };
  assert.deepEqual(responseFraming(resp("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n"), "HEAD"), none);
  assert.deepEqual(responseFraming(resp("HTTP/1.1 204 No Content\r\n"), "GET"), none);
  assert.deepEqual(
    responseFraming(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n"), "GET"),
    none,
  );
  assert.deepEqual(responseFraming(resp("HTTP/1.1 100 Continue\r\n"), "POST"), none);
  assert.deepEqual(responseFraming(resp("HTTP/1.1 200 OK\r\n"), "GET"), {
    ok: true,
    framing: { kind: "close" },
  });
  assert.deepEqual(responseFraming(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"), "GET"), {
    ok: true,
    framing: { kind: "close" },
  });
  assert.deepEqual(
    responseFraming(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"), "GET"),
    {
      ok: true,
      framing: { kind: "chunked" },
    },
  );
  assert.equal(responseFraming(resp("HTTP/1.1 200 OK\r\nContent-Length: x\r\n"), "GET").ok, false);
});

/** Feeds `bytes` to a framer in pieces of `piece` bytes; returns body bytes used and done. */
function frame(
  framing: Framing,
  bytes: Uint8Array,
  piece: number,
): { used: number; done: boolean } {
  const f = new BodyFramer(framing);
  let used = 0;
  for (let i = 0; i < bytes.length && !f.done; i += piece) {
    const part = bytes.subarray(i, Math.min(bytes.length, i + piece));
    const n = f.feed(part);
    used += n;
    if (n < part.length) break;
  }
  return { used, done: f.done };
}

Deno.test("http body: a chunked body ends after its last chunk and trailers, however it is split", () => {
  const body = '5\r\nhello\r\n1A;ext=1;q="x"\r\n' + "z".repeat(26) + "\r\n0\r\nTrailer: t\r\n\r\n";
  const bytes = enc(body + "NEXT");
  for (const piece of [1, 2, 3, 7, 64, 1000]) {
    assert.deepEqual(
      frame({ kind: "chunked" }, bytes, piece),
      { used: body.length, done: true },
      `piece ${piece}`,
    );
  }
  assert.deepEqual(frame({ kind: "length", length: 4 }, enc("abcdef"), 1), { used: 4, done: true });
  assert.deepEqual(frame({ kind: "length", length: 0 }, enc("abc"), 1), { used: 0, done: true });
  const open = new BodyFramer({ kind: "close" });
  assert.equal(open.feed(enc("anything")), 8);
  assert.equal(open.done, false);
});

Deno.test("http body: malformed chunked bodies are framing errors", () => {
  for (
    const bad of [
      "x\r\n",
      "\r\n",
      ";ext\r\n",
      "5\rX",
      "5\nhello",
      "5\r\nhelloXX",
      "1 2\r\n",
      "5 \r\nhello\r\n",
      "5 ;x\r\nhello\r\n",
      "5\t\r\nhello\r\n",
      "5;\x01\r\n",
      "fffffffffffffff\r\n",
      "0\r\nTrailer\n",
      "0\r\nA\x00\r\n",
    ]
  ) {
    const f = new BodyFramer({ kind: "chunked" });
    assert.throws(() => f.feed(enc(bad)), FramingError, JSON.stringify(bad));
  }
  const long = new BodyFramer({ kind: "chunked" });
  assert.throws(() => long.feed(enc("1;" + "e".repeat(5000))), FramingError);
});

function planned(plan: RequestPlan): string {
  assert.ok(plan.ok, JSON.stringify(plan));
  return dec(plan.head);
}

Deno.test("http messages: the forwarded request drops hop-by-hop and Proxy-* fields and sets Host from the target", () => {
  const head = req(
    "POST http://web.demo/x HTTP/1.1\r\nHost: evil.example\r\nProxy-Connection: keep-alive\r\n" +
      "Proxy-Authorization: Basic eA==\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n" +
      "TE: trailers\r\nAccept: */*\r\nTransfer-Encoding: Chunked\r\n\r\n",
  );
  assert.equal(
    planned(planRequest(head, "/x", "web.demo")),
    "POST /x HTTP/1.1\r\nHost: web.demo\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\n\r\n",
  );
  const http10 = req("GET http://web.demo:8080/ HTTP/1.0\r\n\r\n");
  assert.equal(
    planned(planRequest(http10, "/", "web.demo:8080")),
    "GET / HTTP/1.0\r\nHost: web.demo:8080\r\n\r\n",
  );
  const upgrade = req(
    "GET http://w/ws HTTP/1.1\r\nHost: w\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
  );
  assert.equal(
    planned(planRequest(upgrade, "/ws", "w")),
    "GET /ws HTTP/1.1\r\nHost: w\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  );
  // The Content-Length written is the one counted, whatever spacing it came with.
  const cl = req("PUT http://w/ HTTP/1.1\r\nContent-Length:\t 012 \r\n\r\n");
  assert.equal(
    planned(planRequest(cl, "/", "w")),
    "PUT / HTTP/1.1\r\nHost: w\r\nContent-Length: 12\r\n\r\n",
  );
  const empty = req("POST http://w/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  assert.match(planned(planRequest(empty, "/", "w")), /\r\nContent-Length: 0\r\n/);
  // Bytes above 0x7f in a field value go out as the same bytes, not as UTF-8.
  const latin = parseRequestHead(
    new Uint8Array([...enc("GET http://w/ HTTP/1.1\r\nX: "), 0xe9, ...enc("\r\n\r\n")]),
  );
  const plan = planRequest(done(latin).head, "/", "w");
  assert.ok(plan.ok);
  const out = plan.head;
  assert.deepEqual([...out.subarray(out.indexOf(0xe9) - 1, out.indexOf(0xe9) + 1)], [0x20, 0xe9]);
});

Deno.test("http messages: a request whose framing a server could read otherwise is refused", () => {
  for (
    const bad of [
      // Connection naming a framing field: once dropped, the body would go unframed.
      "Content-Length: 5\r\nConnection: Content-Length\r\n",
      "Transfer-Encoding: chunked\r\nConnection: keep-alive, transfer-encoding\r\n",
      "Content-Length: 5\r\nProxy-Connection: content-length\r\n",
      "Host: a\r\nHost: b\r\n",
      "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding: chunked, identity\r\n",
    ]
  ) {
    const plan = planRequest(req("POST http://w/ HTTP/1.1\r\n" + bad + "\r\n"), "/", "w");
    assert.equal(plan.ok, false, bad);
  }
});

Deno.test("http messages: keep-alive as each version defaults it", () => {
  assert.equal(clientKeepsAlive(req("GET / HTTP/1.1\r\n\r\n")), true);
  assert.equal(clientKeepsAlive(req("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")), false);
  assert.equal(clientKeepsAlive(req("GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n")), false);
  assert.equal(clientKeepsAlive(req("GET / HTTP/1.0\r\n\r\n")), false);
  assert.equal(clientKeepsAlive(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")), true);
});

function resp(text: string): ResponseHead {
  return done(parseResponseHead(enc(text))).head;
}

function final(plan: ResponsePlan): Extract<ResponsePlan, { kind: "final" }> {
  assert.equal(plan.kind, "final", JSON.stringify(plan));
  return plan as Extract<ResponsePlan, { kind: "final" }>;
}

Deno.test("http messages: the response to the client, and ktctl's own answers", () => {
  const r10 = resp(
    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nX: y\r\nContent-Length: 2\r\n\r\n",
  );
  const closing = final(planResponse(r10, req("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), 0));
  assert.equal(
    dec(closing.head),
    "HTTP/1.1 200 OK\r\nX: y\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
  );
  assert.equal(closing.keepClient, false);
  assert.equal(closing.keepOrigin, true);
  const to10 = final(planResponse(r10, req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0));
  assert.equal(
    dec(to10.head),
    "HTTP/1.1 200 OK\r\nX: y\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
  );
  const switching = resp(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: k\r\n\r\n",
  );
  const ws = req("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  const up = planResponse(switching, ws, 0);
  assert.equal(up.kind, "upgrade");
  assert.equal(
    dec((up as { head: Uint8Array }).head),
    "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: k\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  );
  assert.equal(
    dec(localResponse(502, "nö\n", { close: true, extra: [["X-Ktctl-Error", "refused"]] })),
    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n" +
      "Cache-Control: no-store\r\nX-Ktctl-Error: refused\r\nConnection: close\r\n\r\nnö\n",
  );
  assert.ok(
    dec(localResponse(200, "body", { head: true })).endsWith(
      "Content-Length: 4\r\nCache-Control: no-store\r\n\r\n",
    ),
  );
});

Deno.test("sniff: SOCKS versions, HTTP methods, and nothing else", () => {
  assert.equal(sniff(4), "socks4");
  assert.equal(sniff(5), "socks5");
  for (const c of "GPCHODTgpc\r") assert.equal(sniff(c.charCodeAt(0)), "http", c);
  for (const b of [0, 1, 3, 6, 0x16, 0x20, 0x30, 0x7f, 0x80, 0xff]) {
    assert.equal(sniff(b), undefined, String(b));
  }
});

/** Runs a PAC script the way a browser does, with the one PAC helper it uses. */
function findProxy(pac: string, host: string): string {
  const run = new Function(
    "url",
    "host",
    `function dnsDomainIs(h, d) { return h.length >= d.length && h.substring(h.length - d.length) == d; }
     function isInNet() { throw new Error("isInNet must not be called"); }
     function dnsResolve() { throw new Error("dnsResolve must not be called"); }
     ${pac}
     return FindProxyForURL(url, host);`,
  );
  return run(`http://${host}/`, host);
}

Deno.test("pac: cluster names and ranges go to ktctl (then DIRECT), everything else DIRECT", () => {
  const pac = renderPac({
    proxy: pacDirective("http", "127.0.0.1:2223"),
    clusterDomain: "cluster.local",
    namespaces: ["demo", "other"],
    ranges: ["10.96.0.0/12", "10.244.0.0/16", "fd00::/8"],
  });
  const ktctl = "PROXY 127.0.0.1:2223; DIRECT";
  for (
    const host of [
      "web.demo",
      "web.demo.svc",
      "WEB.DEMO.",
      "api.other.svc",
      "web.demo.svc.cluster.local",
      "web-0.web-headless.demo.svc",
      "10-244-0-11.demo.pod",
      "10-244-0-11.demo.pod.cluster.local",
      "anything.cluster.local",
      "10.96.0.10",
      "10.111.255.255",
      "10.244.3.4",
    ]
  ) {
    assert.equal(findProxy(pac, host), ktctl, host);
  }
  for (
    const host of [
      "example.com",
      "web",
      "web.nosuchns",
      "a.b.demo",
      "x.demo.com",
      "cluster.local.example.com",
      "10.95.255.255",
      "10.112.0.0",
      "10.245.0.1",
      "127.0.0.1",
      "300.1.1.1",
      "fd00::1",
    ]
  ) {
    assert.equal(findProxy(pac, host), "DIRECT", host);
  }
  const socks = renderPac({
    proxy: pacDirective("socks", "127.0.0.1:2223"),
    clusterDomain: "c.l",
    namespaces: [],
    ranges: [],
  });
  assert.equal(findProxy(socks, "x.c.l"), "SOCKS5 127.0.0.1:2223; SOCKS 127.0.0.1:2223; DIRECT");
  assert.equal(findProxy(socks, "10.96.0.1"), "DIRECT");
});
