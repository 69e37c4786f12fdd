/**
 * The client side of CONNECT, SOCKS5 and SOCKS4a, byte by byte: what ktctl sends an upstream
 * proxy, and how it reads every answer (partial, complete, followed by tunnel bytes, hostile).
 */
import assert from "node:assert/strict";
import { bytes } from "../../../testenv/bytes.ts";
import {
  authSchemesOf,
  encodeConnect,
  parseConnectResponse,
  parseSocks4Reply,
  parseSocks5CredentialsReply,
  parseSocks5Method,
  parseSocks5Reply,
  socks4Connect,
  socks5Connect,
  socks5Credentials,
  socks5Greeting,
  toProxyForm,
} from "../../../src/net/proxy_handshake.ts";
import { connectMessage } from "../../../src/net/proxy_dial.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("CONNECT: the request, with and without Basic credentials (UTF-8), IPv6 bracketed", () => {
  assert.equal(
    text(encodeConnect("example.com", 443)),
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
  );
  assert.equal(
    text(encodeConnect("::1", 8080)),
    "CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
  );
  // RFC 7617 example: Aladdin / open sesame.
  assert.equal(
    text(encodeConnect("a", 1, { username: "Aladdin", password: "open sesame" })),
    "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n",
  );
  // RFC 7617 §2.1 (charset UTF-8): "test" / "123£" -> dGVzdDoxMjPCow==
  assert.match(
    text(encodeConnect("a", 1, { username: "test", password: "123£" })),
    /Basic dGVzdDoxMjPCow==\r\n/,
  );
  assert.throws(() => encodeConnect("a\r\nX: y", 1), /not a valid destination/);
});

Deno.test("CONNECT: the answer, byte by byte, then the tunnel's first bytes stay out of the head", () => {
  const answer = bytes("HTTP/1.1 200 Connection established\r\nVia: squid\r\n\r\n", "SSH-2.0");
  for (let n = 0; n < answer.length - 7; n++) {
    assert.deepEqual(parseConnectResponse(answer.subarray(0, n)), { kind: "more" }, `${n}`);
  }
  const done = parseConnectResponse(answer);
  assert.equal(done.kind, "done");
  if (done.kind !== "done") return;
  assert.equal(done.value.status, 200);
  assert.equal(done.value.headLength, answer.length - 7);
  assert.equal(text(answer.subarray(done.value.headLength)), "SSH-2.0");
});

Deno.test("CONNECT: 407 challenges are read per scheme, auth-params skipped", () => {
  const parse = (fields: string) => {
    const r = parseConnectResponse(
      bytes(`HTTP/1.1 407 Proxy Authentication Required\r\n${fields}\r\n`),
    );
    assert.equal(r.kind, "done");
    return r.kind === "done" ? r.value.authSchemes : [];
  };
  assert.deepEqual(parse("Proxy-Authenticate: Negotiate\r\nProxy-Authenticate: NTLM\r\n"), [
    "negotiate",
    "ntlm",
  ]);
  assert.deepEqual(parse('proxy-authenticate: Basic realm="corp, inc", NTLM\r\n'), [
    "basic",
    "ntlm",
  ]);
  assert.deepEqual(parse("Proxy-Authenticate: Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag==\r\n"), [
    "negotiate",
  ]);
  assert.deepEqual(parse("Content-Length: 0\r\n"), []);
});

Deno.test("CONNECT: hostile answers are refused, not guessed at", () => {
  for (
    const [answer, reason] of [
      ["SSH-2.0-OpenSSH\r\n\r\n", /not an HTTP response/],
      ["HTTP/1.1 2000 OK\r\n\r\n", /not an HTTP response/],
      ["HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", /malformed field/],
    ] as const
  ) {
    const r = parseConnectResponse(bytes(answer));
    assert.equal(r.kind, "invalid", answer);
    if (r.kind === "invalid") assert.match(r.reason, reason);
  }
  assert.deepEqual(parseConnectResponse(new Uint8Array(16 * 1024)), {
    kind: "invalid",
    reason: "the proxy's response head is too large",
  });
  const r = parseConnectResponse(bytes("HTTP/1.1 502 \x1b[31mred\x00\r\n\r\n"));
  assert.equal(r.kind === "done" && r.value.statusLine, "HTTP/1.1 502 ?[31mred?");
});

Deno.test("CONNECT: a 407 with only Negotiate/NTLM says ktctl cannot do Windows sign-in", () => {
  const step = "CONNECT a:443 through the upstream proxy http://127.0.0.1:3128";
  const head = { status: 407, statusLine: "HTTP/1.1 407 x", authSchemes: ["negotiate", "ntlm"] };
  assert.equal(
    connectMessage(step, head),
    `${step}: the proxy asks for Negotiate or NTLM authentication (Windows sign-in), which ktctl ` +
      "does not do; ask for a proxy that accepts Basic credentials (--upstreamProxy " +
      "http://user:pass@host:port) or an exception for these destinations",
  );
  assert.match(
    connectMessage(step, { ...head, authSchemes: ["basic"] }),
    /asks for credentials \(407, basic\): give them as --upstreamProxy/,
  );
  assert.match(
    connectMessage(step, { ...head, authSchemes: ["basic"] }, { username: "bob" }),
    /refused the credentials for user bob \(407\)/,
  );
  assert.match(
    connectMessage(step, { status: 403, statusLine: "HTTP/1.1 403 Forbidden", authSchemes: [] }),
    /the proxy answered HTTP\/1\.1 403 Forbidden$/,
  );
});

Deno.test("SOCKS5: greeting, RFC 1929 credentials, CONNECT per address type", () => {
  assert.deepEqual(socks5Greeting(false), bytes(5, 1, 0));
  assert.deepEqual(socks5Greeting(true), bytes(5, 2, 0, 2));
  assert.deepEqual(socks5Credentials("bob", "pw"), bytes(1, 3, "bob", 2, "pw"));
  assert.throws(() => socks5Credentials("x".repeat(256), ""), /255 bytes/);
  assert.deepEqual(socks5Connect("127.0.0.1", 8080), bytes(5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90));
  assert.deepEqual(socks5Connect("web.demo", 80), bytes(5, 1, 0, 3, 8, "web.demo", 0, 80));
  assert.deepEqual(
    socks5Connect("2001:db8::1", 443),
    bytes(5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0xbb),
  );
  assert.deepEqual(
    socks5Connect("::1", 1),
    bytes(5, 1, 0, 4, ...Array(15).fill(0), 1, 0, 1),
  );
});

Deno.test("SOCKS5: method and replies, partial and complete, tunnel bytes after them", () => {
  assert.deepEqual(parseSocks5Method(bytes(5)), { kind: "more" });
  assert.equal(parseSocks5Method(bytes(5, 0xff)).kind, "done");
  assert.equal(parseSocks5Method(bytes(4, 0)).kind, "invalid");
  assert.deepEqual(parseSocks5CredentialsReply(bytes(1, 0)), { kind: "done", value: true });
  assert.deepEqual(parseSocks5CredentialsReply(bytes(1, 1)), { kind: "done", value: false });
  const v4 = bytes(5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90, "HELLO");
  for (let n = 0; n < 10; n++) {
    assert.deepEqual(parseSocks5Reply(v4.subarray(0, n)), { kind: "more" });
  }
  assert.deepEqual(parseSocks5Reply(v4), { kind: "done", value: { reply: 0, length: 10 } });
  const name = bytes(5, 5, 0, 3, 4, "host", 0, 80);
  assert.deepEqual(parseSocks5Reply(name.subarray(0, 10)), { kind: "more" });
  assert.deepEqual(parseSocks5Reply(name), { kind: "done", value: { reply: 5, length: 11 } });
  assert.deepEqual(parseSocks5Reply(bytes(5, 0, 0, 4, ...Array(16).fill(0), 0, 1)), {
    kind: "done",
    value: { reply: 0, length: 22 },
  });
  assert.equal(parseSocks5Reply(bytes(5, 0, 0, 9, 0, 0)).kind, "invalid");
  assert.equal(parseSocks5Reply(bytes(5, 0, 1, 1, 0, 0)).kind, "invalid");
});

Deno.test("SOCKS4a: IPv4 as SOCKS4, names as 4a, the 8-byte reply", () => {
  assert.deepEqual(socks4Connect("10.1.2.3", 80), bytes(4, 1, 0, 80, 10, 1, 2, 3, 0));
  assert.deepEqual(
    socks4Connect("web.demo", 443, "me"),
    bytes(4, 1, 1, 0xbb, 0, 0, 0, 1, "me", 0, "web.demo", 0),
  );
  assert.throws(() => socks4Connect("::1", 1), /IPv6/);
  assert.deepEqual(parseSocks4Reply(bytes(0, 90, 0, 0, 0, 0, 0)), { kind: "more" });
  assert.deepEqual(parseSocks4Reply(bytes(0, 90, 0, 0, 0, 0, 0, 0)), {
    kind: "done",
    value: { granted: true, code: 90 },
  });
  assert.deepEqual(parseSocks4Reply(bytes(0, 91, 0, 0, 0, 0, 0, 0)), {
    kind: "done",
    value: { granted: false, code: 91 },
  });
  assert.equal(parseSocks4Reply(bytes(5, 90, 0, 0, 0, 0, 0, 0)).kind, "invalid");
});

Deno.test("plain HTTP to an HTTP proxy: the request line in absolute form, credentials added", () => {
  const origin = bytes("GET /a?b=1 HTTP/1.1\r\nHost: web:8080\r\nX-A: 1\r\n\r\n");
  assert.equal(
    text(toProxyForm(origin, "http://web:8080/a?b=1")),
    "GET http://web:8080/a?b=1 HTTP/1.1\r\nHost: web:8080\r\nX-A: 1\r\n\r\n",
  );
  assert.equal(
    text(
      toProxyForm(origin, "http://web:8080/a?b=1", {
        username: "Aladdin",
        password: "open sesame",
      }),
    ),
    "GET http://web:8080/a?b=1 HTTP/1.1\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n" +
      "Host: web:8080\r\nX-A: 1\r\n\r\n",
  );
  assert.throws(() => toProxyForm(origin, "http://x/\r\nEvil: 1"), /not a request line/);
  assert.throws(() => toProxyForm(bytes("GET / HTTP/1.1"), "http://x/"), /not a request head/);
  assert.deepEqual(authSchemesOf(['Basic realm="a, b"', "NTLM, Negotiate abc=="]), [
    "basic",
    "ntlm",
    "negotiate",
  ]);
});
