/**
 * Byte-level tests of the SOCKS4/4a/5 parsers and encoders in src/front/socks/protocol.ts.
 */
import assert from "node:assert/strict";
import { normalizeHostname } from "../../../../src/front/hostname.ts";
import { bytes } from "../../../../testenv/bytes.ts";
import {
  detectVersion,
  formatIpv6,
  type Parse,
  parseSocks4Request,
  parseSocks5Greeting,
  parseSocks5Request,
  SOCKS4_MAX_FIELD,
  Socks4Reply,
  socks4Reply,
  Socks5Method,
  socks5MethodReply,
  Socks5Reply,
  socks5Reply,
} from "../../../../src/front/socks/protocol.ts";

function hex(b: Uint8Array | undefined): string {
  return b === undefined ? "(none)" : [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

const SOCKS4_REJECTED = "00 5b 00 00 00 00 00 00";

/** Asserts an "invalid" answer whose reply is exactly `replyHex` (or absent when undefined). */
function assertInvalid<T>(r: Parse<T>, replyHex: string | undefined, reason?: RegExp): void {
  assert.equal(r.status, "invalid", `expected invalid, got ${JSON.stringify(r)}`);
  if (r.status !== "invalid") return;
  assert.equal(hex(r.reply), replyHex ?? "(none)");
  assert.ok(r.reason.length > 0);
  if (reason) assert.match(r.reason, reason);
}

/** Every proper prefix of `message` must be "more". */
function assertPrefixesNeedMore<T>(parse: (b: Uint8Array) => Parse<T>, message: Uint8Array) {
  for (let n = 0; n < message.length; n++) {
    assert.deepEqual(
      parse(message.subarray(0, n)),
      { status: "more" },
      `prefix of ${n} of ${message.length} bytes: ${hex(message.subarray(0, n))}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// SOCKS4 / SOCKS4a

Deno.test("socks4: CONNECT to an IPv4 address with an empty user id", () => {
  const msg = bytes(4, 1, 0x00, 0x50, 127, 0, 0, 1, 0);
  assert.deepEqual(parseSocks4Request(msg), {
    status: "done",
    consumed: 9,
    value: {
      version: 4,
      command: "connect",
      destination: { host: "127.0.0.1", port: 80, addressType: "ipv4" },
      userId: "",
    },
  });
});

Deno.test("socks4: CONNECT with a user id; port is big-endian", () => {
  const msg = bytes(4, 1, 0x1f, 0x90, 10, 244, 0, 5, "alice", 0);
  assert.deepEqual(parseSocks4Request(msg), {
    status: "done",
    consumed: 14,
    value: {
      version: 4,
      command: "connect",
      destination: { host: "10.244.0.5", port: 8080, addressType: "ipv4" },
      userId: "alice",
    },
  });
});

Deno.test("socks4: 0.0.0.0 is a plain IPv4 address, not SOCKS4a", () => {
  const msg = bytes(4, 1, 0, 80, 0, 0, 0, 0, 0, "not-a-host", 0);
  assert.deepEqual(parseSocks4Request(msg), {
    status: "done",
    consumed: 9,
    value: {
      version: 4,
      command: "connect",
      destination: { host: "0.0.0.0", port: 80, addressType: "ipv4" },
      userId: "",
    },
  });
});

Deno.test("socks4a: 0.0.0.x (x != 0) takes the hostname after the user id", () => {
  for (const x of [1, 7, 255]) {
    const msg = bytes(4, 1, 0x01, 0xbb, 0, 0, 0, x, "bob", 0, "web.demo", 0);
    assert.deepEqual(parseSocks4Request(msg), {
      status: "done",
      consumed: 8 + 4 + 9,
      value: {
        version: 4,
        command: "connect",
        destination: { host: "web.demo", port: 443, addressType: "domain" },
        userId: "bob",
      },
    });
  }
});

Deno.test("socks4a: hostname is lower-cased and loses one trailing dot", () => {
  const msg = bytes(4, 1, 0, 80, 0, 0, 0, 1, 0, "WEB.Demo.SVC.Cluster.Local.", 0);
  const r = parseSocks4Request(msg);
  assert.equal(r.status, "done");
  if (r.status !== "done") return;
  assert.deepEqual(r.value.destination, {
    host: "web.demo.svc.cluster.local",
    port: 80,
    addressType: "domain",
  });
  assert.equal(r.consumed, msg.length);
  assert.equal(r.value.userId, "");
});

Deno.test("socks4a: a hostname with an illegal character or two dots is rejected with 00 5B", () => {
  for (const name of ["bad host", "a/b", "a..b", ".", "-lead.example", "x".repeat(64)]) {
    const msg = bytes(4, 1, 0, 80, 0, 0, 0, 1, 0, name, 0);
    assertInvalid(parseSocks4Request(msg), SOCKS4_REJECTED, /hostname/);
  }
  // An empty SOCKS4a hostname is not a name either.
  assertInvalid(parseSocks4Request(bytes(4, 1, 0, 80, 0, 0, 0, 1, 0, 0)), SOCKS4_REJECTED);
});

Deno.test("socks4: BIND is parsed as a command so the server can refuse it", () => {
  const r = parseSocks4Request(bytes(4, 2, 0x04, 0x00, 192, 168, 1, 2, "u", 0));
  assert.deepEqual(r, {
    status: "done",
    consumed: 10,
    value: {
      version: 4,
      command: "bind",
      destination: { host: "192.168.1.2", port: 1024, addressType: "ipv4" },
      userId: "u",
    },
  });
});

Deno.test("socks4: commands other than CONNECT and BIND are rejected with 00 5B", () => {
  for (const cmd of [0, 3, 4, 0xff]) {
    const r = parseSocks4Request(bytes(4, cmd, 0, 80, 1, 2, 3, 4, 0));
    assertInvalid(r, SOCKS4_REJECTED, new RegExp(`command ${cmd}`));
  }
});

Deno.test("socks4: a version byte other than 4 is invalid without a reply", () => {
  assertInvalid(parseSocks4Request(bytes(5)), undefined, /version 5/);
  assertInvalid(parseSocks4Request(bytes(0x47, 0x45, 0x54)), undefined, /version 71/);
});

Deno.test("socks4: every truncated prefix of a valid message needs more", () => {
  assertPrefixesNeedMore(parseSocks4Request, bytes(4, 1, 0, 80, 127, 0, 0, 1, 0));
  assertPrefixesNeedMore(parseSocks4Request, bytes(4, 1, 0x1f, 0x90, 10, 0, 0, 1, "alice", 0));
  assertPrefixesNeedMore(parseSocks4Request, bytes(4, 1, 0, 80, 0, 0, 0, 1, "id", 0, "web", 0));
  assertPrefixesNeedMore(parseSocks4Request, bytes(4, 2, 0, 80, 0, 0, 0, 9, 0, "a.b.c", 0));
});

Deno.test("socks4: a user id of 255 bytes is accepted, 256 is rejected with 00 5B", () => {
  assert.equal(SOCKS4_MAX_FIELD, 255);
  const ok = parseSocks4Request(bytes(4, 1, 0, 80, 1, 2, 3, 4, "u".repeat(255), 0));
  assert.equal(ok.status, "done");
  if (ok.status === "done") {
    assert.equal(ok.consumed, 264);
    assert.equal(ok.value.userId, "u".repeat(255));
  }
  // Terminated but too long.
  assertInvalid(
    parseSocks4Request(bytes(4, 1, 0, 80, 1, 2, 3, 4, "u".repeat(256), 0)),
    SOCKS4_REJECTED,
    /user id is longer than 255 bytes/,
  );
  // Not yet terminated: 255 bytes may still end with a NUL, 256 cannot.
  assert.deepEqual(parseSocks4Request(bytes(4, 1, 0, 80, 1, 2, 3, 4, "u".repeat(255))), {
    status: "more",
  });
  assertInvalid(
    parseSocks4Request(bytes(4, 1, 0, 80, 1, 2, 3, 4, "u".repeat(256))),
    SOCKS4_REJECTED,
    /user id/,
  );
});

Deno.test("socks4a: a hostname over 255 bytes is rejected with 00 5B, terminated or not", () => {
  const head = bytes(4, 1, 0, 80, 0, 0, 0, 1, "id", 0);
  assertInvalid(
    parseSocks4Request(bytes(head, "a".repeat(256), 0)),
    SOCKS4_REJECTED,
    /SOCKS4a hostname is longer than 255 bytes/,
  );
  assertInvalid(parseSocks4Request(bytes(head, "a".repeat(256))), SOCKS4_REJECTED, /hostname/);
  assert.deepEqual(parseSocks4Request(bytes(head, "a".repeat(255))), { status: "more" });
  // 255 bytes is within the field limit but longer than any DNS name (253): not a valid name.
  assertInvalid(
    parseSocks4Request(bytes(head, "a.".repeat(127) + "a", 0)),
    SOCKS4_REJECTED,
    /not a valid name/,
  );
});

Deno.test("socks4/4a: destination port 0 is rejected with 00 5B", () => {
  assertInvalid(
    parseSocks4Request(bytes(4, 1, 0, 0, 1, 2, 3, 4, 0)),
    SOCKS4_REJECTED,
    /port 0/,
  );
  assertInvalid(
    parseSocks4Request(bytes(4, 1, 0, 0, 0, 0, 0, 1, 0, "web", 0)),
    SOCKS4_REJECTED,
    /port 0/,
  );
});

Deno.test("socks4: consumed stops at the message; pipelined bytes stay for the caller", () => {
  const request = bytes(4, 1, 0, 80, 0, 0, 0, 1, "me", 0, "web", 0);
  const early = bytes("GET / HTTP/1.1\r\n\r\n", 0, 4, 5);
  const input = bytes(request, early);
  const r = parseSocks4Request(input);
  assert.equal(r.status, "done");
  if (r.status !== "done") return;
  assert.equal(r.consumed, request.length);
  assert.equal(hex(input.subarray(r.consumed)), hex(early));
  // The parser does not modify its input.
  assert.equal(hex(input), hex(bytes(request, early)));
});

// ---------------------------------------------------------------------------------------------
// SOCKS5 greeting

Deno.test("socks5 greeting: methods are listed; consumed covers only the greeting", () => {
  assert.deepEqual(parseSocks5Greeting(bytes(5, 1, 0)), {
    status: "done",
    consumed: 3,
    value: { methods: [0] },
  });
  assert.deepEqual(parseSocks5Greeting(bytes(5, 2, 0, 2, 5, 1, 0, 1)), {
    status: "done",
    consumed: 4,
    value: { methods: [0, 2] },
  });
  const all = Array.from({ length: 255 }, (_, i) => i);
  assert.deepEqual(parseSocks5Greeting(bytes(5, 255, all)), {
    status: "done",
    consumed: 257,
    value: { methods: all },
  });
});

Deno.test("socks5 greeting: zero methods is invalid with the reply 05 FF", () => {
  assertInvalid(parseSocks5Greeting(bytes(5, 0)), "05 ff", /no methods/);
  assertInvalid(parseSocks5Greeting(bytes(5, 0, 0, 1)), "05 ff");
});

Deno.test("socks5 greeting: every prefix needs more; another version is invalid, no reply", () => {
  assertPrefixesNeedMore(parseSocks5Greeting, bytes(5, 1, 0));
  assertPrefixesNeedMore(parseSocks5Greeting, bytes(5, 3, 0, 1, 2));
  assertInvalid(parseSocks5Greeting(bytes(4, 1, 0)), undefined, /version 4/);
});

// ---------------------------------------------------------------------------------------------
// SOCKS5 request

function socks5(cmd: number, atyp: number, address: Uint8Array | number[], port: number) {
  return bytes(5, cmd, 0, atyp, address, port >> 8, port & 0xff);
}

function ipv6Bytes(groups: number[]): number[] {
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

Deno.test("socks5 request: ATYP 1 (IPv4)", () => {
  assert.deepEqual(parseSocks5Request(socks5(1, 1, [10, 96, 0, 10], 80)), {
    status: "done",
    consumed: 10,
    value: {
      version: 5,
      command: "connect",
      destination: { host: "10.96.0.10", port: 80, addressType: "ipv4" },
    },
  });
});

Deno.test("socks5 request: ATYP 3 (domain) is normalized; length byte is honoured", () => {
  const name = "Web.Demo.SVC.cluster.local.";
  assert.deepEqual(parseSocks5Request(socks5(1, 3, bytes(name.length, name), 0x1f90)), {
    status: "done",
    consumed: 5 + name.length + 2,
    value: {
      version: 5,
      command: "connect",
      destination: { host: "web.demo.svc.cluster.local", port: 8080, addressType: "domain" },
    },
  });
  // An IPv6 literal sent as a "domain" is kept as it is.
  const r = parseSocks5Request(socks5(1, 3, bytes(3, "::1"), 22));
  assert.equal(r.status, "done");
  if (r.status === "done") {
    assert.deepEqual(r.value.destination, { host: "::1", port: 22, addressType: "domain" });
  }
});

Deno.test("socks5 request: ATYP 4 (IPv6) is formatted per RFC 5952", () => {
  const cases: [number[], string][] = [
    [[0, 0, 0, 0, 0, 0, 0, 1], "::1"],
    [[0, 0, 0, 0, 0, 0, 0, 0], "::"],
    [[0xfe80, 0, 0, 0, 0, 0, 0, 1], "fe80::1"],
    // Two runs of equal length: the first is compressed.
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"],
    // The longest run wins even when it comes second.
    [[0x2001, 0, 0, 1, 0, 0, 0, 1], "2001:0:0:1::1"],
    // A single zero group is never compressed.
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"],
    [[1, 0, 0, 0, 0, 0, 0, 0], "1::"],
    [[0xABCD, 0xEF01, 0, 0, 0, 0, 0, 0x00ff], "abcd:ef01::ff"],
    [[0xfd00, 0x10, 0x244, 0, 0, 0, 0, 5], "fd00:10:244::5"],
  ];
  for (const [groups, text] of cases) {
    assert.equal(formatIpv6(new Uint8Array(ipv6Bytes(groups))), text);
    assert.deepEqual(parseSocks5Request(socks5(1, 4, ipv6Bytes(groups), 443)), {
      status: "done",
      consumed: 22,
      value: {
        version: 5,
        command: "connect",
        destination: { host: text, port: 443, addressType: "ipv6" },
      },
    });
  }
});

Deno.test("socks5 request: BIND and UDP ASSOCIATE are parsed as commands", () => {
  const bind = parseSocks5Request(socks5(2, 1, [1, 2, 3, 4], 5000));
  const udp = parseSocks5Request(socks5(3, 1, [0, 0, 0, 0], 53));
  assert.equal(bind.status === "done" && bind.value.command, "bind");
  assert.equal(udp.status === "done" && udp.value.command, "udp-associate");
  assert.deepEqual(udp.status === "done" && udp.value.destination, {
    host: "0.0.0.0",
    port: 53,
    addressType: "ipv4",
  });
});

Deno.test("socks5 request: an unknown command is refused with 05 07", () => {
  for (const cmd of [0, 4, 0x80, 0xff]) {
    assertInvalid(
      parseSocks5Request(socks5(cmd, 1, [1, 2, 3, 4], 80)),
      "05 07 00 01 00 00 00 00 00 00",
      /command/,
    );
  }
  // Known as soon as the fourth byte arrives, before the address.
  assertInvalid(parseSocks5Request(bytes(5, 9, 0, 1)), "05 07 00 01 00 00 00 00 00 00");
});

Deno.test("socks5 request: an unknown address type is refused with 05 08", () => {
  for (const atyp of [0, 2, 5, 0xff]) {
    assertInvalid(
      parseSocks5Request(bytes(5, 1, 0, atyp)),
      "05 08 00 01 00 00 00 00 00 00",
      new RegExp(`address type ${atyp}`),
    );
  }
});

Deno.test("socks5 request: a non-zero reserved byte is a general failure (05 01)", () => {
  assertInvalid(
    parseSocks5Request(bytes(5, 1, 1, 1, 1, 2, 3, 4, 0, 80)),
    "05 01 00 01 00 00 00 00 00 00",
    /reserved/,
  );
});

Deno.test("socks5 request: a version other than 5 is a general failure (05 01)", () => {
  assertInvalid(parseSocks5Request(bytes(4)), "05 01 00 01 00 00 00 00 00 00", /version 4/);
});

Deno.test("socks5 request: port 0 is a general failure (05 01)", () => {
  assertInvalid(
    parseSocks5Request(socks5(1, 1, [1, 2, 3, 4], 0)),
    "05 01 00 01 00 00 00 00 00 00",
    /port 0/,
  );
  assertInvalid(
    parseSocks5Request(socks5(1, 3, bytes(3, "web"), 0)),
    "05 01 00 01 00 00 00 00 00 00",
  );
});

Deno.test("socks5 request: UDP ASSOCIATE or BIND from 0.0.0.0:0 is 'command not supported' (05 07)", () => {
  // RFC 1928: a client that does not know the address it will send from sends all zeros.
  for (const cmd of [2, 3]) {
    assertInvalid(
      parseSocks5Request(socks5(cmd, 1, [0, 0, 0, 0], 0)),
      "05 07 00 01 00 00 00 00 00 00",
      /not supported/,
    );
  }
});

Deno.test("socks5 request: empty and illegal domains are refused with 05 04", () => {
  const unreachable = "05 04 00 01 00 00 00 00 00 00";
  // Empty: known as soon as the length byte arrives.
  assertInvalid(parseSocks5Request(bytes(5, 1, 0, 3, 0)), unreachable, /empty/);
  for (const name of ["has space", "nul\0inside", "a/b", "a..b", "ok.", "."]) {
    const r = parseSocks5Request(socks5(1, 3, bytes(name.length, name), 80));
    if (name === "ok.") {
      assert.equal(r.status === "done" && r.value.destination.host, "ok");
      continue;
    }
    assertInvalid(r, unreachable, /not a valid name/);
  }
  // 255 bytes of labels is longer than a DNS name may be (253).
  const long = "a.".repeat(127) + "a";
  assertInvalid(parseSocks5Request(socks5(1, 3, bytes(255, long), 80)), unreachable);
  // 253 bytes made of 63-byte labels is fine.
  const max = ["a", "b", "c"].map((c) => c.repeat(63)).join(".") + "." + "d".repeat(61);
  assert.equal(max.length, 253);
  const ok = parseSocks5Request(socks5(1, 3, bytes(253, max), 80));
  assert.equal(ok.status === "done" && ok.value.destination.host, max);
});

Deno.test("socks5 request: every truncated prefix of every address type needs more", () => {
  assertPrefixesNeedMore(parseSocks5Request, socks5(1, 1, [10, 0, 0, 1], 80));
  assertPrefixesNeedMore(parseSocks5Request, socks5(1, 3, bytes(8, "web.demo"), 80));
  assertPrefixesNeedMore(parseSocks5Request, socks5(3, 4, ipv6Bytes([0, 0, 0, 0, 0, 0, 0, 1]), 80));
});

Deno.test("socks5 request: consumed leaves pipelined bytes untouched", () => {
  for (
    const request of [
      socks5(1, 1, [10, 0, 0, 1], 80),
      socks5(1, 3, bytes(3, "web"), 80),
      socks5(1, 4, ipv6Bytes([0xfe80, 0, 0, 0, 0, 0, 0, 1]), 80),
    ]
  ) {
    const early = bytes("GET / HTTP/1.1\r\n", 0, 5, 1, 0);
    const input = bytes(request, early);
    const r = parseSocks5Request(input);
    assert.equal(r.status === "done" && r.consumed, request.length);
    assert.equal(hex(input.subarray(request.length)), hex(early));
  }
});

// ---------------------------------------------------------------------------------------------
// Encoders and small helpers

Deno.test("socks4Reply encodes VN=0, CD and zeroed port and address", () => {
  assert.equal(Socks4Reply.granted, 90);
  assert.equal(Socks4Reply.rejected, 91);
  assert.equal(hex(socks4Reply(Socks4Reply.granted)), "00 5a 00 00 00 00 00 00");
  assert.equal(hex(socks4Reply(Socks4Reply.rejected)), "00 5b 00 00 00 00 00 00");
});

Deno.test("socks5Reply encodes VER, REP, RSV, ATYP=1 and a zero bound address", () => {
  assert.equal(hex(socks5Reply(Socks5Reply.succeeded)), "05 00 00 01 00 00 00 00 00 00");
  assert.equal(hex(socks5Reply(Socks5Reply.connectionRefused)), "05 05 00 01 00 00 00 00 00 00");
  assert.equal(
    hex(socks5Reply(Socks5Reply.addressTypeNotSupported)),
    "05 08 00 01 00 00 00 00 00 00",
  );
  assert.deepEqual(
    Object.values(Socks5Reply),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
  );
});

Deno.test("socks5MethodReply encodes VER and METHOD", () => {
  assert.equal(hex(socks5MethodReply(Socks5Method.noAuth)), "05 00");
  assert.equal(hex(socks5MethodReply(Socks5Method.noAcceptable)), "05 ff");
});

Deno.test("detectVersion recognizes only 4 and 5", () => {
  assert.equal(detectVersion(4), 4);
  assert.equal(detectVersion(5), 5);
  for (const b of [0, 3, 6, 0x16, 0x47, 0xff]) assert.equal(detectVersion(b), undefined);
});

Deno.test("normalizeHostname lower-cases, drops one trailing dot and checks labels", () => {
  assert.equal(normalizeHostname("Example.COM."), "example.com");
  assert.equal(normalizeHostname("_srv._tcp.x"), "_srv._tcp.x");
  assert.equal(normalizeHostname("[::1]"), "::1");
  assert.equal(normalizeHostname("FE80::1"), "fe80::1");
  assert.equal(normalizeHostname("10.0.0.1"), "10.0.0.1");
  assert.equal(normalizeHostname("a".repeat(63)), "a".repeat(63));
  for (const bad of ["", ".", "a..", "a..b", "-a", "a-", "a".repeat(64), "a b", "é.com"]) {
    assert.equal(normalizeHostname(bad), undefined, JSON.stringify(bad));
  }
});
