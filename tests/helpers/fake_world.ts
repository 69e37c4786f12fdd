/**
 * A fake cluster for integration tests: the in-process fake API server with the e2e fixture's
 * shape (demo/web-1..3 behind service web and web-headless, refuser, empty, other/api-1), loopback
 * backends for the pods, and `connect()` to start ktctl against it with direct dials limited to
 * loopback.
 * @module
 */
import { build, FakeApiServer } from "../../testenv/fake_apiserver.ts";
import { type Backend, delayedAnswerBackend, httpBackend } from "../../testenv/backends.ts";
import { type ConnectOptions, type ConnectSession, startConnect } from "../../src/cli/connect.ts";
import { parseCidr } from "../../src/net/ip.ts";
import { defaultDeps } from "../../src/sysproxy/mod.ts";

export interface World {
  api: FakeApiServer;
  backends: Backend[];
  dir: string;
  kubeconfig(token?: string, namespace?: string): Promise<string>;
  connect(extra?: Partial<ConnectOptions>): Promise<ConnectSession>;
  close(): Promise<void>;
}

/** `tls`: serve HTTPS with a throwaway certificate (verification skipped: the node:tls adapter). */
export async function world(tls?: { cert: string; key: string }): Promise<World> {
  const api = new FakeApiServer(tls);
  const backends: Backend[] = [];
  const dir = await Deno.makeTempDir({ prefix: "ktctl-it-" });
  const webPorts = [{ name: "http", containerPort: 8080 }, { name: "echo", containerPort: 9000 }];
  for (const i of [1, 2, 3]) {
    const b = httpBackend(`demo/web-${i}`);
    backends.push(b);
    api.apply(
      "pods",
      build.pod("demo", `web-${i}`, `10.244.0.1${i}`, { labels: { app: "web" }, ports: webPorts }),
    );
    api.ports.set(`demo/web-${i}:8080`, { target: b.port });
  }
  const slow = delayedAnswerBackend(500);
  backends.push(slow);
  api.ports.set("demo/web-1:9000", { target: slow.port });
  api.apply(
    "services",
    build.service("demo", "web", "10.96.0.10", [
      { name: "http", port: 80, targetPort: 8080 },
      { name: "tcp", port: 9000, targetPort: "echo" },
    ], { app: "web" }),
  );
  const endpoints = [1, 2, 3].map((i) => ({
    pod: `web-${i}`,
    ip: `10.244.0.1${i}`,
    hostname: `web-${i}`,
  }));
  api.apply(
    "endpointslices",
    build.slice(
      "demo",
      "web",
      [{ name: "http", port: 8080 }, { name: "tcp", port: 9000 }],
      endpoints,
    ),
  );
  const headless = build.service("demo", "web-headless", "None", [{ name: "http", port: 8080 }], {
    app: "web",
  });
  api.apply("services", headless);
  api.apply(
    "endpointslices",
    build.slice("demo", "web-headless", [{ name: "http", port: 8080 }], endpoints),
  );
  api.apply("pods", build.pod("demo", "refuser", "10.244.0.20", { labels: { app: "refuser" } }));
  api.apply(
    "services",
    build.service("demo", "refuser", "10.96.0.20", [{ port: 80, targetPort: 8080 }], {
      app: "refuser",
    }),
  );
  api.apply(
    "endpointslices",
    build.slice("demo", "refuser", [{ port: 8080 }], [{ pod: "refuser", ip: "10.244.0.20" }]),
  );
  api.apply(
    "services",
    build.service("demo", "empty", "10.96.0.30", [{ port: 80 }], { app: "nothing" }),
  );
  api.apply("endpointslices", build.slice("demo", "empty", [{ port: 80 }], []));
  const other = httpBackend("other/api-1");
  backends.push(other);
  api.apply("pods", build.pod("other", "api-1", "10.244.1.5", { labels: { app: "api" } }));
  api.ports.set("other/api-1:8080", { target: other.port });
  api.apply(
    "services",
    build.service("other", "api", "10.96.1.5", [{ port: 80, targetPort: 8080 }], { app: "api" }),
  );
  api.apply(
    "endpointslices",
    build.slice("other", "api", [{ port: 8080 }], [{ pod: "api-1", ip: "10.244.1.5" }]),
  );

  const sessions: ConnectSession[] = [];
  const kubeconfig = async (token = "admin-token", namespace = "demo") => {
    const file = `${dir}/kubeconfig-${token}-${namespace}`;
    await Deno.writeTextFile(file, api.kubeconfig(token, namespace));
    return file;
  };
  return {
    api,
    backends,
    dir,
    kubeconfig,
    async connect(extra = {}) {
      const session = await startConnect({
        method: "socks5",
        address: "127.0.0.1",
        port: 0,
        setupGlobalProxy: false,
        clusterDomain: "cluster.local",
        // Tests may only ever dial loopback directly: the fake pod IPs are never real targets.
        direct: { kind: "ranges", ranges: [parseCidr("127.0.0.0/8")] },
        clusterRanges: [],
        // The fake API server has no SPDY tunnel: every test also covers the fallback to one
        // WebSocket per connection (the real control plane's e2e tests cover the tunnel).
        portForward: "multiplexed",
        kubeconfig: await kubeconfig(),
        ...extra,
      }, { ...defaultDeps(), home: dir });
      sessions.push(session);
      return session;
    },
    async close() {
      for (const s of sessions) await s.stop();
      await api.close();
      for (const b of backends) await b.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

export function proxy(session: ConnectSession, scheme: string): string {
  return `${scheme}://127.0.0.1:${session.server.addr.port}`;
}
