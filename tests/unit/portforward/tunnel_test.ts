/**
 * Multiplexed port-forwards against an in-memory kubelet: when a connection counts as made,
 * refusals, session sharing and replacement, and the faults the real control plane cannot be
 * made to produce (held replies, a server that never answers).
 */
import assert from "node:assert/strict";
import {
  defaultTunnelOptions,
  probeWaitMs,
  type TunnelOptions,
  TunnelSessions,
  TunnelUpstream,
} from "../../../src/portforward/multiplexed.ts";
import type { PodTarget } from "../../../src/route/resolve.ts";
import { DialError } from "../../../src/net/upstream.ts";
import { FakeKubelet, MemoryTransport, type PodBehaviour } from "../../../testenv/spdy_peer.ts";
import { waitFor, waitSteady } from "../../helpers/wait.ts";

const target = (pod: string, port: number): PodTarget => ({ namespace: "demo", pod, port });
const text = (s: string) => new TextEncoder().encode(s);
/** One turn of the event loop: whatever a delivered message would set off has run by then. */
const turn = () => new Promise((r) => setTimeout(r, 0));

/** Whether the kubelet has seen both streams (error and data) of a connection to `port`. */
const sawStreams = (kubelet: FakeKubelet, port: number) =>
  kubelet.frames.filter((f) => f.kind === "syn" && f.headers.port === String(port)).length === 2;

function setup(
  behaviour: (port: number) => PodBehaviour = () => "echo",
  opts: Partial<TunnelOptions> = {},
) {
  const dials: { pod: string; transport: MemoryTransport; kubelet: FakeKubelet }[] = [];
  const tunnels = new TunnelSessions((t) => {
    const transport = new MemoryTransport();
    dials.push({ pod: t.pod, transport, kubelet: new FakeKubelet(transport, behaviour) });
    return Promise.resolve(transport);
  }, { ...defaultTunnelOptions, probeMs: 50, ...opts });
  return { tunnels, dials };
}

async function roundTrip(
  upstream: Awaited<ReturnType<TunnelSessions["open"]>>,
  message: string,
): Promise<string> {
  upstream.buffer(message.length).set(text(message));
  await upstream.write(message.length);
  return new TextDecoder().decode((await upstream.read())!);
}

Deno.test("tunnel: data flows both ways; the client's end reaches the pod and the pod's comes back", async () => {
  const { tunnels, dials } = setup();
  const up = await tunnels.open(target("web-0", 8080));
  assert.equal(await roundTrip(up, "ping"), "ping");
  await up.endWrite();
  assert.equal(await up.read(), null);
  const frames = dials[0].kubelet.frames;
  assert.ok(frames.some((f) => f.kind === "data" && f.fin && f.data.length === 0));
  up.close();
  tunnels.close();
});

Deno.test("tunnel: a refusal is a 'refused' failure carrying the server's text", async () => {
  const { tunnels } = setup((port) => port === 81 ? "refuse" : "echo");
  await assert.rejects(tunnels.open(target("web-0", 81)), (e: unknown) => {
    assert.ok(e instanceof DialError);
    assert.equal(e.kind, "refused");
    assert.match(e.message, /demo\/web-0:81: dial tcp :81: connection refused/);
    return true;
  });
  // The session itself is fine: the next port on the same pod works.
  const up = await tunnels.open(target("web-0", 8080));
  assert.equal(await roundTrip(up, "x"), "x");
  up.close();
  tunnels.close();
});

Deno.test("tunnel: a first connection waits for the replies and the probe; a port that answered does not", async () => {
  const { tunnels, dials } = setup(() => "echo", { probeMs: 10_000, probeFloorMs: 10_000 });
  // First contact: not made until the probe passed or the pod spoke. Here the pod is silent
  // (echo waits for data), so a held-back probe keeps open() pending.
  let made = false;
  const first = tunnels.open(target("web-0", 8080)).then((u) => (made = true, u));
  // The kubelet has replied to both streams and the session has read the replies: only the
  // probe is missing now.
  await waitFor(() => dials.length === 1 && sawStreams(dials[0].kubelet, 8080), 5000, "the SYNs");
  await waitFor(() => dials[0].transport.pending === 0, 5000, "the replies read");
  await turn();
  assert.equal(made, false);
  tunnels.close();
  await assert.rejects(first);

  const { tunnels: t2, dials: d2 } = setup(() => "echo", { probeMs: 20 });
  const up = await t2.open(target("web-0", 8080));
  assert.equal(await roundTrip(up, "hi"), "hi"); // the port answered
  up.close();
  // Now replies are held: a connection to the same port is made without waiting for them.
  // (Had it waited for them, open() would not resolve before releaseReplies() below.)
  d2[0].kubelet.holdReplies = true;
  const again = await t2.open(target("web-0", 8080));
  d2[0].kubelet.releaseReplies();
  assert.equal(await roundTrip(again, "again"), "again");
  again.close();
  // A different port of that pod has not answered yet: it waits again.
  d2[0].kubelet.holdReplies = true;
  let other = false;
  const pending = t2.open(target("web-0", 9000)).then((u) => (other = true, u));
  await waitFor(() => sawStreams(d2[0].kubelet, 9000), 5000, "the SYNs to port 9000");
  await turn();
  assert.equal(other, false);
  d2[0].kubelet.releaseReplies();
  (await pending).close();
  assert.equal(dials.length, 1);
  assert.equal(d2.length, 1, "one session per pod, reused");
  t2.close();
});

Deno.test("tunnel: the probe is a few round trips of the stream pair, between a floor and probeMs", () => {
  const opts = { ...defaultTunnelOptions, probeMs: 100, probeFloorMs: 5, probeRoundTrips: 3 };
  assert.equal(probeWaitMs(0.4, opts), 5, "a fast path: the floor");
  assert.equal(probeWaitMs(10, opts), 30, "three round trips");
  assert.equal(probeWaitMs(80, opts), 100, "a slow path: never more than probeMs");
  assert.equal(probeWaitMs(Infinity, opts), 100);
});

Deno.test("tunnel: a first connection waits in proportion to its replies' round trip", async () => {
  const opts = { ...defaultTunnelOptions, probeMs: 2_000, probeFloorMs: 1, probeRoundTrips: 3 };
  const { tunnels, dials } = setup(() => "echo", opts);
  // A session is open (one answered port), then a first connection to another port whose
  // replies are held for a while: its round trip is at least that long, and so is its wait.
  const warm = await tunnels.open(target("web-0", 8080));
  warm.close();
  dials[0].kubelet.holdReplies = true;
  const started = performance.now();
  let repliedAt = 0;
  const opening = tunnels.open(target("web-0", 9000));
  await waitFor(() => sawStreams(dials[0].kubelet, 9000), 5000, "the SYNs to port 9000");
  setTimeout(() => {
    repliedAt = performance.now();
    dials[0].kubelet.releaseReplies();
  }, 60);
  const up = await opening as TunnelUpstream;
  const madeAt = performance.now();
  assert.ok(up.roundTripMs! >= 55, `round trip ${up.roundTripMs}`);
  assert.ok(repliedAt > started);
  // Three round trips (unless a very loaded machine made that more than probeMs); 1 ms of
  // slack: a timer may fire on the millisecond before.
  assert.equal(probeWaitMs(up.roundTripMs!, opts), Math.min(2_000, 3 * up.roundTripMs!));
  assert.ok(
    madeAt - repliedAt >= probeWaitMs(up.roundTripMs!, opts) - 1,
    `made ${madeAt - repliedAt} ms after the replies, round trip ${up.roundTripMs} ms`,
  );
  up.close();
  tunnels.close();
});

Deno.test("tunnel: a refusal within the probe fails the open; a slower one ends the made connection", async () => {
  // The kubelet answers both streams at once, as a real one does, and the refusal follows its
  // dial. On the real control plane that is well under a millisecond after the replies
  // (tests/e2e/first_reply_e2e_test.ts); a dial slower than the probe cannot be produced there.
  const { tunnels, dials } = setup(() => "refuse", {
    probeMs: 100,
    probeFloorMs: 5,
    probeRoundTrips: 3,
  });
  await assert.rejects(tunnels.open(target("web-0", 81)), (e: unknown) => {
    assert.ok(e instanceof DialError);
    assert.equal(e.kind, "refused");
    return true;
  });
  // Now the dial takes longer than the longest probe: the connection is reported made (the
  // SOCKS/HTTP client is told it is connected), and the refusal then ends it, as a failed read
  // carrying the kubelet's text (the client sees the connection close without data).
  dials[0].kubelet.refuseDelayMs = 1_000;
  const up = await tunnels.open(target("web-0", 82));
  await assert.rejects(up.read(), (e: unknown) => {
    assert.ok(e instanceof DialError);
    assert.equal(e.kind, "refused");
    assert.match(e.message, /dial tcp :82: connection refused/);
    return true;
  });
  up.close();
  tunnels.close();
});

Deno.test("tunnel: connections to one pod share a session; each pod has its own", async () => {
  const { tunnels, dials } = setup(() => "echo", { probeMs: 1 });
  const ups = await Promise.all([
    ...[1, 2, 3, 4].map(() => tunnels.open(target("web-0", 8080))),
    tunnels.open(target("web-1", 8080)),
  ]);
  assert.deepEqual(dials.map((d) => d.pod).sort(), ["web-0", "web-1"]);
  const results = await Promise.all(ups.map((u, i) => roundTrip(u, `#${i}`)));
  assert.deepEqual(results, ["#0", "#1", "#2", "#3", "#4"]);
  for (const u of ups) u.close();
  tunnels.close();
});

Deno.test("tunnel: a session without room for two more streams gets a sibling", async () => {
  const { tunnels, dials } = setup(() => "echo", { probeMs: 1, maxStreamsPerSession: 4 });
  const a = await tunnels.open(target("web-0", 8080));
  const b = await tunnels.open(target("web-0", 8080));
  assert.equal(dials.length, 1);
  const c = await tunnels.open(target("web-0", 8080)); // 4 streams in the first: a second one
  assert.equal(dials.length, 2);
  for (const u of [a, b, c]) u.close();
  tunnels.close();
});

Deno.test("tunnel: a session held back by a client that does not read gets no new connections", async () => {
  const { tunnels, dials } = setup(() => "echo", { probeMs: 1 });
  const stalled = await tunnels.open(target("web-0", 9000));
  // Echoed back and never read: past the stream's high-water mark, the session stops reading.
  for (let i = 0; i < 20; i++) {
    stalled.buffer(64 * 1024).fill(i);
    await stalled.write(64 * 1024);
  }
  // The session has stopped asking for messages while echoes wait for it.
  const transport = dials[0].transport;
  await waitSteady(() => transport.reads, 5000, "the session's reads", 3, 50);
  assert.ok(transport.pending > 0, "echoes are left unread");
  const next = await tunnels.open(target("web-0", 8080));
  assert.equal(dials.length, 2, "a second session for the same pod");
  assert.equal(await roundTrip(next, "fresh"), "fresh");
  for (const u of [stalled, next]) u.close();
  tunnels.close();
});

Deno.test("tunnel: a server that never replies times out and its session is dropped", async () => {
  const { tunnels, dials } = setup(() => "silent", { openTimeoutMs: 100 });
  await assert.rejects(tunnels.open(target("web-0", 8080)), (e: unknown) => {
    assert.ok(e instanceof DialError);
    assert.equal(e.kind, "timeout");
    return true;
  });
  assert.equal(dials[0].transport.closed, true);
  tunnels.close();
});

Deno.test("tunnel: a deleted pod's session is closed, with its connections", async () => {
  const { tunnels, dials } = setup(() => "echo", { probeMs: 1 });
  const up = await tunnels.open(target("web-0", 8080));
  tunnels.podGone("demo", "web-0");
  assert.equal(dials[0].transport.closed, true);
  await assert.rejects(up.read(), DialError);
  const next = await tunnels.open(target("web-0", 8080)); // a new pod of that name
  assert.equal(dials.length, 2);
  next.close();
  tunnels.close();
});

Deno.test("tunnel: a failed dial is the open's failure", async () => {
  const tunnels = new TunnelSessions(
    () => Promise.reject(new DialError("forbidden", "pods/portforward is forbidden")),
    defaultTunnelOptions,
  );
  await assert.rejects(tunnels.open(target("web-0", 8080)), /forbidden/);
  tunnels.close();
});

Deno.test("tunnel: a quiet session that answers no ping is passed over for a fresh one", async () => {
  // checkAfterMs 0: every session counts as quiet, so each new connection asks for a ping first.
  const { tunnels, dials } = setup(() => "echo", { probeMs: 1, checkAfterMs: 0, livenessMs: 50 });
  const a = await tunnels.open(target("web-0", 8080));
  assert.equal(await roundTrip(a, "before"), "before");
  // The path goes silent (a NAT forgot it): nothing from the server any more. A frame heard in
  // the millisecond of the ask counts as its answer, so the clock moves past the echo first.
  dials[0].kubelet.holdReplies = true;
  const heard = Date.now();
  await waitFor(() => Date.now() > heard, 1000, "the clock to move", 1);
  const b = await tunnels.open(target("web-0", 8080));
  assert.equal(dials.length, 2, "a fresh session");
  assert.equal(await roundTrip(b, "after"), "after");
  assert.ok(dials[0].kubelet.frames.some((f) => f.kind === "ping"), "the old one was pinged");
  for (const u of [a, b]) u.close();
  tunnels.close();
});

Deno.test("tunnel: a quiet session that answers its ping is used again", async () => {
  const { tunnels, dials } = setup(() => "echo", { probeMs: 1, checkAfterMs: 0, livenessMs: 500 });
  const a = await tunnels.open(target("web-0", 8080));
  const b = await tunnels.open(target("web-0", 8080));
  assert.equal(dials.length, 1);
  assert.ok(dials[0].kubelet.frames.some((f) => f.kind === "ping"), "it was asked first");
  assert.equal(await roundTrip(b, "same"), "same");
  for (const u of [a, b]) u.close();
  tunnels.close();
});

Deno.test("tunnel: a session the far side closed while idle is replaced without a failure", async () => {
  const { tunnels, dials } = setup(() => "echo", { probeMs: 1 });
  const a = await tunnels.open(target("web-0", 8080));
  a.close();
  // The kubelet went away: the connection ends, but the client has not read that yet when the
  // next connection is asked for.
  dials[0].transport.deliver(null);
  const b = await tunnels.open(target("web-0", 8080));
  assert.equal(await roundTrip(b, "fresh"), "fresh");
  assert.equal(dials.length, 2);
  b.close();
  tunnels.close();
});
