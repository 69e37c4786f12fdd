/**
 * One id sequence for every connection the activity registry tracks: the proxy's own
 * connections and those through forwards (`connect --forward`, several ports) share one
 * registry, so their ids must not repeat in the live view and /api/status. Real listeners, real
 * loopback connections, a real TCP echo server standing in for the pod.
 */
import assert from "node:assert/strict";
import { ProxyListener } from "../../../src/front/listener.ts";
import { ForwardListener } from "../../../src/forward/listener.ts";
import { Activity } from "../../../src/front/activity.ts";
import type { Dialer } from "../../../src/front/dialer.ts";
import { TcpUpstream } from "../../../src/route/direct.ts";
import { closeQuietly, writeAll } from "../../../src/net/io.ts";
import { waitFor } from "../../helpers/wait.ts";
import { echoServer } from "../../helpers/echo_server.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Reads until `text` has arrived (or the connection ends). */
async function readUntil(conn: Deno.Conn, text: string): Promise<string> {
  const buf = new Uint8Array(4096);
  let got = "";
  while (!got.includes(text)) {
    const n = await conn.read(buf);
    if (n === null) break;
    got += new TextDecoder().decode(buf.subarray(0, n));
  }
  return got;
}

Deno.test("activity ids: the registry hands out one increasing sequence", () => {
  const a = new Activity();
  const ids = [a.nextId(), a.nextId(), a.nextId()];
  assert.deepEqual(ids, [1, 2, 3]);
});

Deno.test("activity ids: the proxy's connection and two forwards' connections have distinct ids", async () => {
  const echo = echoServer();
  const activity = new Activity();
  const toEcho = async (what: string) =>
    new TcpUpstream(await Deno.connect({ hostname: "127.0.0.1", port: echo.port }), what);
  const dialer: Dialer = {
    dial: async () => ({
      upstream: await toEcho("pod demo/web-0:8080"),
      via: "service demo/web:80",
    }),
  };
  const proxy = ProxyListener.listen({ hostname: "127.0.0.1", port: 0 });
  const proxyServing = proxy.serve({
    dialer,
    activity,
    pages: { pac: () => "", about: () => "" },
  });
  const forwards = [ForwardListener.listen("127.0.0.1", 0), ForwardListener.listen("127.0.0.1", 0)];
  const forwardServing = forwards.map((f, i) =>
    f.serve({
      open: () => toEcho(`pod demo/db-${i}:5432`),
      label: `forward ${i}`,
      activity,
      target: `service demo/db${i}:5432`,
    })
  );
  const clients: Deno.Conn[] = [];
  try {
    // Each listener's first connection: today each would be number 1.
    const viaProxy = await Deno.connect({ hostname: "127.0.0.1", port: proxy.addr.port });
    clients.push(viaProxy);
    await writeAll(viaProxy, enc("CONNECT web.demo:80 HTTP/1.1\r\nHost: web.demo:80\r\n\r\n"));
    assert.match(await readUntil(viaProxy, "\r\n\r\n"), /^HTTP\/1\.1 200/);
    for (const f of forwards) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: f.addr.port });
      clients.push(c);
      await writeAll(c, enc("ping"));
      assert.equal(await readUntil(c, "ping"), "ping");
    }
    await waitFor(
      () => activity.snapshot().connections.length === 3,
      5000,
      "three listed connections",
    );
    const listed = activity.snapshot().connections;
    const ids = listed.map((c) => c.id);
    assert.equal(new Set(ids).size, 3, `ids repeat: ${JSON.stringify(listed)}`);
    // Newest first, one sequence: the forwards' connections came after the proxy's.
    assert.deepEqual(
      listed.map((c) => c.destination.startsWith("forward") ? "forward" : c.destination),
      ["forward", "forward", "web.demo:80"],
    );
    assert.ok(ids[0] > ids[1] && ids[1] > ids[2], `not one sequence: ${ids}`);
  } finally {
    for (const c of clients) closeQuietly(c);
    await proxy.close();
    await proxyServing;
    for (const f of forwards) await f.close();
    await Promise.all(forwardServing);
    echo.close();
  }
});
