/**
 * The activity registry: open connections with live byte counts (through the counting upstream),
 * the last failures (bounded), counts per minute and in the last 60 s; the log-line limiter.
 */
import assert from "node:assert/strict";
import { Activity, LineLimiter } from "../../../src/front/activity.ts";
import type { Upstream } from "../../../src/net/upstream.ts";
import { describeEnd, formatBytes, formatDuration } from "../../../src/front/session.ts";

function fakeUpstream(chunks: Uint8Array[]): Upstream & { end(): void } {
  let end = () => {};
  const closed = new Promise<void>((r) => end = r);
  return {
    read: () => Promise.resolve(chunks.shift() ?? null),
    buffer: (n: number) => new Uint8Array(n),
    write: () => Promise.resolve(),
    endWrite: () => Promise.resolve(),
    closed,
    close: () => end(),
    halfDuplexEnd: false,
    description: "pod demo/web-0:8080",
    end: () => end(),
  };
}

Deno.test("activity: an open connection is listed with live bytes, and leaves when it closes", async () => {
  let now = 1_000_000;
  const a = new Activity({ now: () => now });
  const up = fakeUpstream([new Uint8Array(300), new Uint8Array(700)]);
  const counted = a.track(
    {
      id: 7,
      client: "127.0.0.1:5000",
      program: { name: "curl", pid: 42 },
      destination: "web.demo:80",
      via: "service demo/web:80",
    },
    up,
  );
  await counted.write(120);
  await counted.read();
  now += 5000;
  let snap = a.snapshot();
  assert.equal(snap.open, 1);
  assert.deepEqual(snap.connections[0], {
    id: 7,
    client: "127.0.0.1:5000",
    program: { name: "curl", pid: 42 },
    destination: "web.demo:80",
    via: "service demo/web:80",
    sentBytes: 120,
    receivedBytes: 300,
    startedAt: 1_000_000,
  });
  await counted.read();
  assert.equal(a.snapshot().connections[0].receivedBytes, 1000);
  // Per-request log lines on a kept connection take what is new since the last one.
  assert.deepEqual(counted.takeUnlogged(), { sent: 120, received: 1000 });
  await counted.write(5);
  assert.deepEqual(counted.takeUnlogged(), { sent: 5, received: 0 });
  counted.close();
  await up.closed;
  await Promise.resolve();
  snap = a.snapshot();
  assert.equal(snap.open, 0);
  assert.equal(snap.connections.length, 0);
  assert.deepEqual(snap.total, {
    connections: 1,
    failures: 0,
    sentBytes: 125,
    receivedBytes: 1000,
  });
});

Deno.test("activity: the list is capped, the rest still counted; newest first", () => {
  const a = new Activity({ maxTracked: 3 });
  for (let id = 1; id <= 5; id++) {
    a.track({ id, client: "c", program: null, destination: "d", via: "direct" }, fakeUpstream([]));
  }
  const snap = a.snapshot(2);
  assert.equal(snap.open, 5);
  assert.deepEqual(snap.connections.map((c) => c.id), [3, 2]);
});

Deno.test("activity: the last 100 failures, newest first; counts for the last minute", () => {
  let now = Date.UTC(2026, 0, 1, 10, 0, 30);
  const a = new Activity({ now: () => now });
  for (let i = 0; i < 130; i++) {
    a.failed({
      id: i,
      client: "c",
      program: null,
      destination: `web.demo:${i}`,
      kind: "no-port",
      sentence: `no port ${i}`,
    });
  }
  const snap = a.snapshot();
  assert.equal(snap.failures.length, 100);
  assert.equal(snap.failures[0].destination, "web.demo:129");
  assert.equal(snap.failures[99].destination, "web.demo:30");
  assert.equal(snap.lastMinute.failures, 130);
  assert.equal(snap.total.failures, 130);
  // Two minutes later nothing is in the last minute; the per-minute history keeps it.
  now += 120_000;
  const later = a.snapshot();
  assert.equal(later.lastMinute.failures, 0);
  assert.equal(later.minutes[0].failures, 130);
  // After the window (60 minutes) the minute is dropped.
  now += 61 * 60_000;
  assert.equal(a.snapshot().minutes.length, 1);
});

Deno.test("line limiter: a burst, then held lines are counted and mentioned by the next one", () => {
  let now = 0;
  const l = new LineLimiter(3, 10_000, () => now);
  const writes = Array.from({ length: 5 }, () => l.take());
  assert.deepEqual(writes.map((w) => w.write), [true, true, true, false, false]);
  now = 10_000;
  assert.deepEqual(l.take(), { write: true, held: 2 });
  assert.deepEqual(l.take(), { write: true, held: 0 });
});

Deno.test("connection ends: a normal end is not a failure; nothing received is", () => {
  assert.deepEqual(describeEnd({}, 10, false), { failed: false, words: "closed" });
  const reset = { error: new Error("stream reset"), failedSide: "upstream" as const };
  assert.equal(describeEnd(reset, 500, false).failed, false);
  assert.match(describeEnd(reset, 500, false).words, /closed by the far side \(stream reset\)/);
  assert.equal(describeEnd(reset, 0, false).failed, true);
  assert.equal(describeEnd(reset, 0, true).failed, false, "ktctl stopping is not a failure");
  const client = { error: new Error("connection reset"), failedSide: "client" as const };
  assert.equal(describeEnd(client, 0, false).failed, false);
});

Deno.test("units: bytes and durations", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(12 * 1024 * 1024), "12.0 MiB");
  assert.equal(formatDuration(35.4), "35 ms");
  assert.equal(formatDuration(2400), "2.4 s");
  assert.equal(formatDuration(185_000), "3 min 5 s");
});
