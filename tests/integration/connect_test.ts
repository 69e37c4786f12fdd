/**
 * ktctl connect against the in-process fake API server, with real curl as the client. Covers
 * routing by every name form and address, spreading, failure replies, half-close, backpressure,
 * watches, and start-up errors. The end-to-end suite repeats the main paths on a real cluster.
 */
import assert from "node:assert/strict";
import { build } from "../../testenv/fake_apiserver.ts";
import { httpBackend, sourceBackend } from "../../testenv/backends.ts";
import { proxy, world } from "../helpers/fake_world.ts";
import { curl, readAll, socks5Connect } from "../../testenv/socks_client.ts";
import type { ConnectOptions } from "../../src/cli/connect.ts";
import { UserError } from "../../src/errors.ts";
import { setupLogging } from "../../src/cli/logging.ts";
import { selfSignedCert } from "../../testenv/tls_cert.ts";
import { waitFor, waitSteady } from "../helpers/wait.ts";

await setupLogging(Deno.env.get("KTCTL_TEST_DEBUG") === "1");

const opts = {};

Deno.test(
  "the first request, sent while the server still dials the pod, is answered (issue 13.1)",
  opts,
  async () => {
    const w = await world();
    try {
      // The port prefix comes at once; the dial to the pod takes a while, as under CPU load.
      w.api.ports.set("demo/web-2:8080", {
        ...w.api.ports.get("demo/web-2:8080"),
        dialDelayMs: 300,
      });
      const s = await w.connect();
      const r = await curl(
        proxy(s, "socks5h"),
        "http://10-244-0-12.demo.pod.cluster.local:8080/first",
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.body, /^pod=demo\/web-2\nGET \/first\n/);
    } finally {
      await w.close();
    }
  },
);

Deno.test(
  "curl reaches services by every name form and pods and ClusterIPs by address",
  opts,
  async () => {
    const w = await world();
    try {
      const s = await w.connect();
      const names = [
        "web",
        "web.demo",
        "web.demo.svc",
        "web.demo.svc.cluster.local",
        "WEB.Demo.svc.cluster.local.",
        "10.96.0.10",
        "api.other",
        "api.other.svc.cluster.local",
      ];
      for (const scheme of ["socks5h", "socks4a"]) {
        for (const name of names) {
          const r = await curl(proxy(s, scheme), `http://${name}/x`);
          assert.equal(r.code, 0, `${scheme} ${name}: ${r.stderr}`);
          assert.match(
            r.body,
            name.includes("other") ? /^pod=other\/api-1\n/ : /^pod=demo\/web-\d\n/,
          );
          assert.match(r.body, /GET \/x\n/);
        }
      }
      // Plain socks4/socks5 make curl resolve names itself, so only addresses work with them.
      for (const scheme of ["socks5", "socks4"]) {
        const byServiceIp = await curl(proxy(s, scheme), "http://10.96.0.10/");
        assert.match(byServiceIp.body, /^pod=demo\/web-\d/, byServiceIp.stderr);
        const byPodIp = await curl(proxy(s, scheme), "http://10.244.0.12:8080/");
        assert.match(byPodIp.body, /^pod=demo\/web-2\n/, byPodIp.stderr);
      }
      const headless = await curl(
        proxy(s, "socks5h"),
        "http://web-3.web-headless.demo.svc.cluster.local:8080/",
      );
      assert.match(headless.body, /^pod=demo\/web-3\n/, headless.stderr);
      const podDns = await curl(
        proxy(s, "socks5h"),
        "http://10-244-0-11.demo.pod.cluster.local:8080/",
      );
      assert.match(podDns.body, /^pod=demo\/web-1\n/, podDns.stderr);
    } finally {
      await w.close();
    }
  },
);

Deno.test(
  "a cluster without the SPDY tunnel gets one WebSocket per connection, after one try",
  opts,
  async () => {
    const w = await world();
    try {
      const s = await w.connect();
      for (let i = 0; i < 3; i++) {
        const r = await curl(proxy(s, "socks5h"), "http://web.demo/");
        assert.match(r.body, /^pod=demo\/web-\d\n/, r.stderr);
      }
      assert.deepEqual(w.api.offered, [
        "SPDY/3.1+portforward.k8s.io",
        "v4.channel.k8s.io",
        "v4.channel.k8s.io",
        "v4.channel.k8s.io",
      ]);
      const ws = await w.connect({ portForward: "websocket" });
      w.api.offered.length = 0;
      await curl(proxy(ws, "socks5h"), "http://web.demo/");
      assert.deepEqual(w.api.offered, ["v4.channel.k8s.io"]);
    } finally {
      await w.close();
    }
  },
);

Deno.test(
  "over HTTPS with verification skipped, the node:tls adapter carries the same traffic",
  opts,
  async () => {
    const w = await world(await selfSignedCert());
    const size = 24 * 1024 * 1024;
    const source = sourceBackend(size);
    try {
      w.api.ports.set("demo/web-2:7001", { target: source.port });
      const s = await w.connect();
      for (const name of ["web.demo", "10.96.0.10", "api.other"]) {
        const r = await curl(proxy(s, "socks5h"), `http://${name}/tls`);
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        assert.match(r.body, /^pod=(demo\/web-\d|other\/api-1)\n/);
      }
      // The tunnel is tried once, as with any kubeconfig; this fake refuses it.
      assert.equal(w.api.offered[0], "SPDY/3.1+portforward.k8s.io", `${w.api.offered}`);
      assert.ok(
        w.api.offered.slice(1).every((p) => p === "v4.channel.k8s.io"),
        `then only v4: ${w.api.offered}`,
      );
      // A download large enough to pause and resume the WebSocket on the way, byte for byte.
      const { conn, reply } = await socks5Connect(s.server.addr.port, "10.244.0.12", 7001);
      assert.equal(reply, 0);
      const got = await readAll(conn);
      conn.close();
      assert.equal(got.length, size);
      assert.ok(got.every((b, i) => b === (i % 65536) % 251), "bytes arrive intact and in order");
      const refused = await curl(proxy(s, "socks5h"), "http://refuser.demo/");
      assert.notEqual(refused.code, 0);
      assert.equal(refused.body, "");
      // The API server going away under open watches (as on every restart) is survived.
      await w.api.close();
      await waitFor(() => !s.view.healthy, 10_000, "the lost watches noticed");
      const after = await curl(proxy(s, "socks5h"), "http://nosuch.demo/");
      assert.equal(after.code, 97, "still answering SOCKS clients");
    } finally {
      await source.close();
      await w.close();
    }
  },
);

Deno.test("connections to a service are spread over its ready endpoints", opts, async () => {
  const w = await world();
  try {
    const s = await w.connect();
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await curl(proxy(s, "socks5h"), "http://web.demo/");
      seen.add(r.body.split("\n")[0]);
    }
    assert.deepEqual([...seen].sort(), ["pod=demo/web-1", "pod=demo/web-2", "pod=demo/web-3"]);
  } finally {
    await w.close();
  }
});

Deno.test("a service falls over to the next endpoint when a pod is gone", opts, async () => {
  const w = await world();
  try {
    const s = await w.connect();
    // web-2 disappears from the API but the slice still lists it (the controller is late).
    w.api.delete("pods", "demo", "web-2");
    await waitFor(
      async () => (await curl(proxy(s, "socks5h"), "http://10.244.0.12:8080/")).code === 97,
      10_000,
      "the pod's deletion reaching ktctl",
    );
    for (let i = 0; i < 4; i++) {
      const r = await curl(proxy(s, "socks5h"), "http://web.demo/");
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.body, /web-2/);
    }
  } finally {
    await w.close();
  }
});

Deno.test("failures get SOCKS failure replies and are never dialled directly", opts, async () => {
  const w = await world();
  try {
    const s = await w.connect();
    const before = w.api.forwards.length;
    for (
      const url of [
        "http://nosuch.demo.svc.cluster.local/",
        "http://nosuch.demo.svc/",
        "http://10.96.0.99/",
        "http://10.244.0.99:8080/",
        "http://empty.demo/",
        "http://web.demo:81/",
      ]
    ) {
      const started = performance.now();
      const r = await curl(proxy(s, "socks5h"), url);
      assert.equal(
        r.code,
        97,
        `${url}: curl should report a proxy failure, got ${r.code} ${r.stderr}`,
      );
      assert.ok(performance.now() - started < 5000, `${url} took too long`);
    }
    assert.equal(w.api.forwards.length, before, "no port-forward was opened for unknown targets");
    // A destination outside the cluster and outside --dialDirect is refused, not dialled.
    const out = await curl(proxy(s, "socks5h"), "http://192.0.2.1/");
    assert.equal(out.code, 97, out.stderr);
    // A pod that refuses its port: the client sees the connection end without an answer.
    const refused = await curl(proxy(s, "socks5h"), "http://refuser.demo/");
    assert.notEqual(refused.code, 0);
    assert.equal(refused.body, "");
  } finally {
    await w.close();
  }
});

Deno.test(
  "destinations outside the cluster are dialled directly within --dialDirect",
  opts,
  async () => {
    const w = await world();
    const outside = httpBackend("outside");
    try {
      const s = await w.connect();
      const r = await curl(proxy(s, "socks5h"), `http://127.0.0.1:${outside.port}/`);
      assert.match(r.body, /^pod=outside\n/, r.stderr);
      const byName = await curl(proxy(s, "socks4a"), `http://localhost:${outside.port}/`);
      assert.match(byName.body, /^pod=outside\n/, byName.stderr);
      const none = await w.connect({ direct: { kind: "none" } });
      const refused = await curl(proxy(none, "socks5h"), `http://127.0.0.1:${outside.port}/`);
      assert.equal(refused.code, 97);
    } finally {
      await outside.close();
      await w.close();
    }
  },
);

Deno.test("a client's half-close does not cut off the pod's answer", opts, async () => {
  const w = await world();
  try {
    const s = await w.connect();
    const { conn, reply } = await socks5Connect(s.server.addr.port, "10.244.0.11", 9000);
    assert.equal(reply, 0);
    await conn.write(new TextEncoder().encode("3000000\n"));
    await conn.closeWrite();
    const answer = await readAll(conn);
    assert.equal(answer.length, 3_000_000);
    assert.ok(answer.every((b) => b === 42));
    conn.close();
  } finally {
    await w.close();
  }
});

Deno.test("a pod-side close mid-transfer ends the client's connection", opts, async () => {
  const w = await world();
  const source = sourceBackend(4 * 1024 * 1024);
  try {
    w.api.ports.set("demo/web-1:7000", { target: source.port, cutAfterBytes: 1024 * 1024 });
    const s = await w.connect();
    const { conn, reply } = await socks5Connect(s.server.addr.port, "10.244.0.11", 7000);
    assert.equal(reply, 0);
    const got = await readAll(conn);
    assert.ok(got.length < 4 * 1024 * 1024, `got ${got.length}`);
    conn.close();
  } finally {
    await source.close();
    await w.close();
  }
});

for (const kind of ["plain HTTP", "HTTPS, verification skipped (node:tls adapter)"]) {
  Deno.test(
    `a client that does not read makes ktctl stop reading from the pod: ${kind}`,
    opts,
    async () => {
      const w = await world(kind.startsWith("HTTPS") ? await selfSignedCert() : undefined);
      const size = 256 * 1024 * 1024;
      const source = sourceBackend(size);
      try {
        w.api.ports.set("demo/web-1:7001", { target: source.port });
        const s = await w.connect();
        const { conn, reply } = await socks5Connect(s.server.addr.port, "10.244.0.11", 7001);
        assert.equal(reply, 0);
        // Once the pod side has stopped pushing (ktctl stopped reading), see how far it got.
        const pushed = await waitSteady(() => w.api.pushed.bytes, 30_000, "the bytes pushed");
        // Bounded: ktctl's 1 MiB queue, socket buffers and the fake's own 8 MiB send buffer.
        assert.ok(
          pushed < 64 * 1024 * 1024,
          `the pod side pushed ${pushed} bytes into a stalled client`,
        );
        const got = await readAll(conn);
        assert.equal(got.length, size);
        conn.close();
      } finally {
        await source.close();
        await w.close();
      }
    },
  );
}

Deno.test("new services become reachable through the watch, without a restart", opts, async () => {
  const w = await world();
  const fresh = httpBackend("demo/fresh-1");
  try {
    const s = await w.connect();
    const before = await curl(proxy(s, "socks5h"), "http://fresh.demo/");
    assert.equal(before.code, 97);
    w.api.apply("pods", build.pod("demo", "fresh-1", "10.244.0.40", { labels: { app: "fresh" } }));
    w.api.ports.set("demo/fresh-1:8080", { target: fresh.port });
    w.api.apply(
      "services",
      build.service("demo", "fresh", "10.96.0.40", [{ port: 80, targetPort: 8080 }], {
        app: "fresh",
      }),
    );
    w.api.apply(
      "endpointslices",
      build.slice("demo", "fresh", [{ port: 8080 }], [{ pod: "fresh-1", ip: "10.244.0.40" }]),
    );
    await waitFor(
      async () => (await curl(proxy(s, "socks5h"), "http://fresh.demo/")).code === 0,
      10_000,
      "the new service reaching ktctl",
    );
    const after = await curl(proxy(s, "socks5h"), "http://fresh.demo/");
    assert.match(after.body, /^pod=demo\/fresh-1\n/, after.stderr);
    // Watches that break (an API server restart) are resumed and keep the picture current.
    w.api.dropWatches();
    await waitFor(() => w.api.watching("services") > 0, 10_000, "the services watch resumed");
    w.api.delete("services", "demo", "fresh");
    await waitFor(
      async () => (await curl(proxy(s, "socks5h"), "http://fresh.demo/")).code === 97,
      10_000,
      "the deletion reaching ktctl over the resumed watch",
    );
  } finally {
    await fresh.close();
    await w.close();
  }
});

Deno.test("a namespace-limited user is served within its namespace", opts, async () => {
  const w = await world();
  try {
    w.api.tokens.set("limited", { namespaces: ["demo"] });
    const s = await w.connect({ kubeconfig: await w.kubeconfig("limited", "demo") });
    assert.deepEqual(s.view.scope, { kind: "namespace", namespace: "demo" });
    const r = await curl(proxy(s, "socks5h"), "http://web/");
    assert.match(r.body, /^pod=demo\/web-\d\n/, r.stderr);
    const elsewhere = await curl(proxy(s, "socks5h"), "http://api.other.svc.cluster.local/");
    assert.equal(elsewhere.code, 97);
  } finally {
    await w.close();
  }
});

Deno.test("start-up errors are one clear line", opts, async () => {
  const w = await world();
  try {
    const expectError = async (extra: Partial<ConnectOptions>, pattern: RegExp) => {
      await assert.rejects(w.connect(extra), (e: unknown) => {
        assert.ok(e instanceof UserError, `expected a UserError, got ${e}`);
        assert.match(e.message, pattern);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    };
    await expectError(
      { kubeconfig: await w.kubeconfig("wrong-token") },
      /rejected the credentials.*401/,
    );
    w.api.tokens.set("nobody", { namespaces: [] });
    await expectError(
      { kubeconfig: await w.kubeconfig("nobody") },
      /may not read pods and services in namespace demo.*403/,
    );
    await expectError({ kubeconfig: `${w.dir}/missing` }, /kubeconfig .*missing does not exist/);
    await expectError(
      { context: "nope" },
      /context "nope" is not in the kubeconfig \(known: fake\)/,
    );
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = closed.addr.port;
    closed.close();
    const deadConfig = `${w.dir}/dead`;
    await Deno.writeTextFile(
      deadConfig,
      w.api.kubeconfig().replace(w.api.url, `http://127.0.0.1:${deadPort}`),
    );
    await expectError(
      { kubeconfig: deadConfig },
      /cannot reach the API server at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
    const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      await expectError(
        { port: busy.addr.port },
        new RegExp(`127\\.0\\.0\\.1:${busy.addr.port} is already in use.*--proxyPort`),
      );
    } finally {
      busy.close();
    }
  } finally {
    await w.close();
  }
});

Deno.test("deleting a pod closes the connections tunnelled to it", opts, async () => {
  const w = await world();
  const source = sourceBackend(1024 * 1024 * 1024);
  try {
    w.api.ports.set("demo/web-3:7002", { target: source.port });
    const s = await w.connect();
    const { conn, reply } = await socks5Connect(s.server.addr.port, "10.244.0.13", 7002);
    assert.equal(reply, 0);
    const pushedBefore = w.api.pushed.bytes;
    const reading = readAll(conn);
    await waitFor(() => w.api.pushed.bytes > pushedBefore + 1024 * 1024, 10_000, "a transfer");
    // The fake keeps streaming after the deletion, as kwok does: only ktctl can end it.
    w.api.delete("pods", "demo", "web-3");
    const got = await reading;
    assert.ok(got.length < 1024 * 1024 * 1024, `got ${got.length}`);
    conn.close();
  } finally {
    await source.close();
    await w.close();
  }
});

// A leak test: a connect session that served connections over both transports and then stopped
// leaves no socket behind. (Deno 2.9's resource sanitizer does not report a TCP connection left
// open, so the process's open file descriptors are counted instead.)
/** The process's open descriptors, as "fd -> target". */
const openFds = () =>
  new Map([...Deno.readDirSync("/proc/self/fd")].map((e) => {
    let target = "?";
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${e.name}`);
    } catch { /* closed meanwhile */ }
    return [e.name, target];
  }));
/** Waits until every descriptor open now was open in `before` too, naming those that stay. */
async function noDescriptorBeyond(before: Map<string, string>): Promise<void> {
  const extra = () => [...openFds()].filter(([fd, t]) => before.get(fd) !== t);
  await waitFor(() => extra().length === 0, 10_000, "no descriptor left open").catch((e) => {
    throw new Error(`${e.message}: ${extra().map(([fd, t]) => `${fd} -> ${t}`).join(", ")}`);
  });
}
for (const mode of ["multiplexed", "websocket"] as const) {
  Deno.test(`connect leaks no socket once stopped (--portForward ${mode})`, async () => {
    const before = openFds();
    const w = await world();
    try {
      const s = await w.connect({ portForward: mode });
      for (const name of ["web.demo", "10.96.0.10", "refuser.demo"]) {
        await curl(proxy(s, "socks5h"), `http://${name}/leak`);
      }
      const { conn, reply } = await socks5Connect(s.server.addr.port, "10.244.0.11", 8080);
      assert.equal(reply, 0);
      conn.close();
    } finally {
      await w.close();
    }
    await noDescriptorBeyond(before);
  });
}

// The port-forwards' first connection to the API server is opened before the proxy's port is
// taken (so that its handshake overlaps the rest of the start-up); a port already in use must
// not leave it open.
Deno.test("a connect that cannot take its port leaves no socket behind", async () => {
  const w = await world();
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const before = openFds();
  try {
    await assert.rejects(
      w.connect({ port: busy.addr.port }),
      (e: unknown) => e instanceof UserError && /already in use/.test(e.message),
    );
    await noDescriptorBeyond(before);
  } finally {
    busy.close();
    await w.close();
  }
});
