/**
 * src/peer/policy.ts, limiter.ts: who may connect by address (pure), how the owner check and
 * --allowFrom combine, and the bound on concurrent lookups (macOS lsof).
 */
import assert from "node:assert/strict";
import { admissionCheck, byAddress } from "../../../src/peer/policy.ts";
import { Limiter, LimiterFull } from "../../../src/peer/limiter.ts";
import { parseCidr } from "../../../src/net/ip.ts";
import type { AdmissionCheck } from "../../../src/peer/verdict.ts";

const ranges = ["192.168.1.0/24", "127.0.0.5", "fd00::/64"].map(parseCidr);
const addr = (hostname: string): Deno.NetAddr => ({ transport: "tcp", hostname, port: 40000 });

Deno.test("policy: by address, with --allowFrom", () => {
  // Inside the ranges, beyond loopback: served on the ranges' word (no socket table to ask).
  assert.deepEqual(byAddress("192.168.1.7", ranges), {
    allowed: true,
    detail: "192.168.1.7 is in --allowFrom",
  });
  assert.deepEqual(byAddress("fd00::9", ranges), {
    allowed: true,
    detail: "fd00::9 is in --allowFrom",
  });
  // IPv4-mapped IPv6 (a dual-stack listener's view) compares as IPv4.
  assert.deepEqual(byAddress("::ffff:192.168.1.7", ranges), {
    allowed: true,
    detail: "192.168.1.7 is in --allowFrom",
  });
  for (const outside of ["192.168.2.1", "10.0.0.1", "fd01::1", "127.0.0.2", "::ffff:10.0.0.1"]) {
    const v = byAddress(outside, ranges);
    assert.ok(v !== "owner" && !v.allowed, outside);
    assert.match((v as { detail: string }).detail, /is outside --allowFrom$/, outside);
  }
  // Loopback peers in the ranges, and the addresses programs are told to use, go to the owner
  // check: --allowFrom never lets another local user in.
  for (const local of ["127.0.0.1", "::1", "127.0.0.5", "::ffff:127.0.0.1"]) {
    assert.equal(byAddress(local, ranges), "owner", local);
  }
  assert.deepEqual(byAddress("not an address", ranges), {
    allowed: false,
    detail: "not an address is outside --allowFrom",
  });
});

Deno.test("policy: by address, without --allowFrom (a loopback listener)", () => {
  for (const local of ["127.0.0.1", "127.0.0.2", "::1"]) {
    assert.equal(byAddress(local, undefined), "owner", local);
  }
  assert.deepEqual(byAddress("192.168.1.7", undefined), {
    allowed: false,
    detail: "192.168.1.7 is not on this machine and --allowFrom is not set",
  });
});

Deno.test("policy: the owner check runs only for loopback peers inside the ranges", async () => {
  const asked: string[] = [];
  const owner: AdmissionCheck = Object.assign((_l: Deno.NetAddr, r: Deno.NetAddr) => {
    asked.push(r.hostname);
    return Promise.resolve({ allowed: false, detail: "another user" });
  }, { close: () => asked.push("closed") });
  const check = admissionCheck({ allowFrom: ranges, owner })!;
  const local = addr("127.0.0.1");
  assert.equal((await check(local, addr("127.0.0.2"))).detail, "127.0.0.2 is outside --allowFrom");
  assert.equal((await check(local, addr("192.168.1.7"))).allowed, true);
  assert.deepEqual(await check(local, addr("127.0.0.5")), {
    allowed: false,
    detail: "another user",
  });
  assert.deepEqual(asked, ["127.0.0.5"]);
  check.close?.();
  assert.deepEqual(asked, ["127.0.0.5", "closed"]);
  // --allowOtherUsers on loopback: nothing to check at all.
  assert.equal(admissionCheck({}), undefined);
  // --allowOtherUsers with --allowFrom: the ranges alone.
  const rangesOnly = admissionCheck({ allowFrom: ranges })!;
  assert.equal((await rangesOnly(local, addr("127.0.0.1"))).allowed, true);
  assert.equal((await rangesOnly(local, addr("10.1.1.1"))).allowed, false);
});

Deno.test("limiter: at most N run, M wait, the rest are refused at once", async () => {
  const limiter = new Limiter(2, 3);
  const gates: (() => void)[] = [];
  let peak = 0;
  const task = () =>
    limiter.run(async () => {
      peak = Math.max(peak, limiter.running);
      await new Promise<void>((r) => gates.push(r));
      return "done";
    });
  const runs = Array.from({ length: 5 }, task);
  await Promise.resolve();
  assert.equal(gates.length, 2);
  await assert.rejects(task(), LimiterFull);
  // Each finished task hands its slot to the next waiter.
  while (gates.length) {
    gates.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.deepEqual(await Promise.all(runs), Array(5).fill("done"));
  assert.equal(peak, 2);
  assert.equal(limiter.running, 0);
  // A failing task frees its slot too.
  await assert.rejects(limiter.run(() => Promise.reject(new Error("x"))), /x/);
  assert.equal(limiter.running, 0);
});
