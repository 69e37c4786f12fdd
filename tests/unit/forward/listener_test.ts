/**
 * What a forward's port shows the live view: a real loopback listener, a real TCP echo server as
 * the "pod", a real client. Its counts (open, in all, failures, the last failure), and the
 * activity registry's connection (program from the admission, where it went, bytes) and failures
 * (an upstream that cannot be had, a refused program).
 */
import assert from "node:assert/strict";
import { ForwardListener } from "../../../src/forward/listener.ts";
import { forwardStatuses } from "../../../src/forward/start.ts";
import { Activity } from "../../../src/front/activity.ts";
import { DialError } from "../../../src/net/upstream.ts";
import { TcpUpstream } from "../../../src/route/direct.ts";
import { writeAll } from "../../../src/net/io.ts";
import { waitFor } from "../../helpers/wait.ts";
import { echoServer } from "../../helpers/echo_server.ts";

async function readN(conn: Deno.Conn, n: number): Promise<string> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) break;
    got += r;
  }
  return new TextDecoder().decode(out.subarray(0, got));
}

const curl = { name: "curl", pid: 4242 };

Deno.test("forward listener: a connection is counted and listed with its program and pod", async () => {
  const echo = echoServer();
  const activity = new Activity();
  const fwd = ForwardListener.listen("127.0.0.1", 0);
  const local = `127.0.0.1:${fwd.addr.port}`;
  const serving = fwd.serve({
    open: async () =>
      new TcpUpstream(
        await Deno.connect({ hostname: "127.0.0.1", port: echo.port }),
        "pod demo/web-0:8080",
      ),
    admit: () => Promise.resolve({ allowed: true, detail: "curl", program: curl }),
    label: `${local} → service demo/web:80`,
    activity,
    target: "service demo/web:80",
  });
  const running = [{ listener: fwd, line: "", local, target: "service demo/web:80" }];
  try {
    const client = await Deno.connect({ hostname: "127.0.0.1", port: fwd.addr.port });
    await writeAll(client, new TextEncoder().encode("hello"));
    assert.equal(await readN(client, 5), "hello");
    await waitFor(
      () => activity.snapshot().connections.length === 1,
      5000,
      "the listed connection",
    );
    const c = activity.snapshot().connections[0];
    assert.deepEqual(
      { program: c.program, destination: c.destination, via: c.via, sent: c.sentBytes },
      {
        program: curl,
        destination: `forward ${local}`,
        via: "service demo/web:80 → pod demo/web-0:8080",
        sent: 5,
      },
    );
    assert.deepEqual(forwardStatuses(running), [{
      local,
      target: "service demo/web:80",
      state: "listening",
      connections: 1,
      totalConnections: 1,
      failures: 0,
      lastFailure: null,
    }]);
    client.close();
    await waitFor(() => fwd.status().connections === 0, 5000, "the connection to end");
    await waitFor(() => activity.snapshot().open === 0, 5000, "the activity to drop it");
    assert.equal(fwd.status().totalConnections, 1);
    assert.equal(activity.snapshot().total.connections, 1);
    assert.equal(activity.snapshot().failures.length, 0);
  } finally {
    await fwd.close();
    await serving;
    echo.close();
  }
  assert.equal(fwd.status().state, "closed");
});

Deno.test("forward listener: an upstream that cannot be had and a refused program are failures", async () => {
  const activity = new Activity();
  const fwd = ForwardListener.listen("127.0.0.1", 0);
  const local = `127.0.0.1:${fwd.addr.port}`;
  let allow = true;
  const serving = fwd.serve({
    open: () => Promise.reject(new DialError("no-endpoints", "service demo/web has no ready pod")),
    admit: () =>
      Promise.resolve(
        allow
          ? { allowed: true, detail: "curl", program: curl }
          : { allowed: false, detail: "nc is another user's", program: { name: "nc", pid: 7 } },
      ),
    label: `${local} → service demo/web:80`,
    activity,
    target: "service demo/web:80",
  });
  try {
    const connectAndWaitClosed = async () => {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: fwd.addr.port });
      assert.equal(await c.read(new Uint8Array(16)), null); // closed by the forward
      c.close();
    };
    await connectAndWaitClosed();
    await waitFor(() => fwd.status().failures === 1, 5000, "the dial failure");
    const s = fwd.status();
    assert.equal(s.totalConnections, 1);
    assert.equal(s.lastFailure?.kind, "no-endpoints");
    assert.equal(s.lastFailure?.sentence, "service demo/web has no ready pod");
    const f = activity.snapshot().failures[0];
    assert.deepEqual(
      [f.kind, f.program, f.destination, f.sentence],
      ["no-endpoints", curl, `forward ${local}`, "service demo/web has no ready pod"],
    );

    allow = false;
    await connectAndWaitClosed();
    await waitFor(() => fwd.status().failures === 2, 5000, "the refusal");
    assert.equal(fwd.status().lastFailure?.kind, "not-allowed");
    const refused = activity.snapshot().failures[0];
    assert.deepEqual([refused.kind, refused.program?.name], ["not-allowed", "nc"]);
    assert.equal(activity.snapshot().total.connections, 0);
  } finally {
    await fwd.close();
    await serving;
  }
});
