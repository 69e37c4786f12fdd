/**
 * IP and CIDR helpers of src/net/ip.ts.
 */
import assert from "node:assert/strict";
import {
  canonicalIp,
  formatCidr,
  inRanges,
  isLoopback,
  parseCidr,
  rangeIndex,
  surroundingRange,
} from "../../../src/net/ip.ts";

Deno.test("ip: canonicalIp gives one text per address", () => {
  const cases: [string, string | undefined][] = [
    ["10.244.0.5", "10.244.0.5"],
    ["FD00:10:244:0:0:0:0:5", "fd00:10:244::5"],
    ["[::1]", "::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::ffff:a01:203", "10.1.2.3"],
    ["0.0.0.0", "0.0.0.0"],
    // Legacy IPv4 spellings are names to a resolver, not addresses.
    ["10.1", undefined],
    ["0x0a.0.0.1", undefined],
    ["167772161", undefined],
    ["010.0.0.1", undefined],
    ["256.0.0.1", undefined],
    ["web.demo", undefined],
    ["", undefined],
    ["[10.0.0.1", undefined],
  ];
  for (const [input, expected] of cases) assert.equal(canonicalIp(input), expected, input);
});

Deno.test("ip: parseCidr takes ranges and bare addresses, and throws on junk", () => {
  assert.equal(formatCidr(parseCidr("10.0.0.0/8")), "10.0.0.0/8");
  assert.equal(formatCidr(parseCidr(" 127.0.0.0/8 ")), "127.0.0.0/8");
  assert.equal(formatCidr(parseCidr("::1/128")), "::1/128");
  assert.equal(formatCidr(parseCidr("10.1.2.3")), "10.1.2.3/32");
  assert.equal(formatCidr(parseCidr("fd00::1")), "fd00::1/128");
  for (const bad of ["", "10.0.0.0/33", "::/129", "nope", "10.0.0.0/x", "1.2.3.4/8/9"]) {
    assert.throws(() => parseCidr(bad), Error, bad);
  }
  // Legacy IPv4 spellings would silently mean another range ("10.96/12" is 10.0.0.96/12).
  for (const bad of ["10.96/12", "10.1", "0x7f.1/8", "127.1", "010.0.0.0/8", "167772160/8"]) {
    assert.throws(() => parseCidr(bad), Error, bad);
  }
});

Deno.test("ip: inRanges matches by family and prefix", () => {
  const ranges = ["10.96.0.0/12", "fd00:10::/32"].map(parseCidr);
  assert.equal(inRanges("10.96.0.1", ranges), true);
  assert.equal(inRanges("10.111.255.255", ranges), true);
  assert.equal(inRanges("10.112.0.0", ranges), false);
  assert.equal(inRanges("fd00:10:ffff::1", ranges), true);
  assert.equal(inRanges("fd00:11::1", ranges), false);
  assert.equal(inRanges("10.96.0.1", []), false);
  // An IPv4 address never matches an IPv6 range, nor the reverse.
  assert.equal(inRanges("::", [parseCidr("0.0.0.0/0")]), false);
  assert.equal(inRanges("1.2.3.4", [parseCidr("::/0")]), false);
});

Deno.test("ip: rangeIndex gives the first range that holds the address", () => {
  const ranges = ["10.244.1.0/24", "fd00:10:244:1::/64", "10.244.0.0/16"].map(parseCidr);
  assert.equal(rangeIndex("10.244.1.9", ranges), 0);
  assert.equal(rangeIndex("fd00:10:244:1::9", ranges), 1);
  assert.equal(rangeIndex("10.244.2.9", ranges), 2);
  assert.equal(rangeIndex("10.245.0.1", ranges), -1);
});

Deno.test("ip: surroundingRange is the /16 or /64 around an address", () => {
  assert.equal(formatCidr(surroundingRange("10.244.1.7")), "10.244.0.0/16");
  assert.equal(formatCidr(surroundingRange("192.168.255.255")), "192.168.0.0/16");
  assert.equal(formatCidr(surroundingRange("fd00:10:244:1:2:3:4:5")), "fd00:10:244:1::/64");
  assert.equal(formatCidr(surroundingRange("fd00:10:244::5")), "fd00:10:244::/64");
});

Deno.test("ip: isLoopback", () => {
  for (const ip of ["127.0.0.1", "127.255.0.9", "::1", "[::1]", "::ffff:127.0.0.1"]) {
    assert.equal(isLoopback(ip), true, ip);
  }
  for (const ip of ["10.0.0.1", "0.0.0.0", "::", "localhost", "128.0.0.1"]) {
    assert.equal(isLoopback(ip), false, ip);
  }
});

Deno.test("ip: remembered answers stay right, past the memo's bound and for non-addresses", () => {
  const ranges = [parseCidr("10.0.0.0/8")];
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 3000; i++) {
      const ip = `10.${(i >> 8) & 255}.${i & 255}.1`;
      assert.equal(canonicalIp(ip), ip);
      assert.equal(canonicalIp(`::ffff:${ip}`), ip);
      assert.equal(inRanges(ip, ranges), true);
      assert.equal(canonicalIp(`host-${i}.example`), undefined);
    }
    assert.equal(inRanges("11.0.0.1", ranges), false);
    assert.throws(() => inRanges("not an address", ranges));
  }
});
