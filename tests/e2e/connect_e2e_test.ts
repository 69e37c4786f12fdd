/**
 * ktctl against the real local control plane (kube-apiserver, etcd, controller-manager, kwok):
 * the CLI as a user runs it, real curl through exactly the printed `http_proxy` value, and
 * Chromium. Run with the cluster up: `deno task cluster up && deno task e2e`.
 */
import assert from "node:assert/strict";
import {
  API,
  BULK,
  clusterInfo,
  deletePod,
  EMPTY,
  ensureCluster,
  kubectl,
  POD_PORTS,
  REFUSER,
  restartApiServer,
  WEB,
} from "../../testenv/cluster/mod.ts";
import { chromiumDom } from "../helpers/chromium.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";
import {
  curl,
  curlWithEnv,
  readAll,
  readExactly,
  socks5Connect,
} from "../../testenv/socks_client.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
await ensureCluster();
const info = await clusterInfo();
const home = await Deno.makeTempDir({ prefix: "ktctl-e2e-home-" });
// Only loopback may ever be dialled directly: the cluster's pod IPs are fake.
const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128"];

function connect(extra: string[], kubeconfig = info.kubeconfigs.admin) {
  return startKtctl(["-c", kubeconfig, "-n", WEB.namespace, ...SAFE, ...extra], {
    env: { HOME: home, USERPROFILE: home },
  });
}

async function jsonOf(args: string[]): Promise<Record<string, unknown>> {
  return JSON.parse((await kubectl([...args, "-o", "json"])).stdout);
}

async function serviceIp(ns: string, name: string): Promise<string> {
  const svc = await jsonOf(["-n", ns, "get", "svc", name]);
  return (svc.spec as { clusterIP: string }).clusterIP;
}

async function podIp(ns: string, name: string): Promise<string> {
  const pod = await jsonOf(["-n", ns, "get", "pod", name]);
  return (pod.status as { podIP: string }).podIP;
}

function swapScheme(url: string, scheme: string): string {
  return url.replace(/^[a-z0-9]+:/, `${scheme}:`);
}

const MODES = [
  { method: "socks", portForward: "multiplexed" },
  { method: "socks5", portForward: "multiplexed" },
  { method: "socks5", portForward: "websocket" },
] as const;
for (const { method, portForward } of MODES) {
  Deno.test(
    `${method} (${portForward}): curl reaches pods, ClusterIPs, named ports and every DNS form`,
    opts,
    async () => {
      const ktctl = await connect([
        ...(method === "socks" ? [] : ["--method", "socks5"]),
        ...(portForward === "multiplexed" ? [] : ["--portForward", portForward]),
      ]);
      try {
        assert.equal(
          ktctl.proxyUrl,
          `${method === "socks" ? "socks4a" : "socks5h"}://127.0.0.1:${ktctl.port}`,
        );
        assert.match(ktctl.output(), /INF Connected to .* pods and \d+ services in all namespaces/);
        assert.match(
          ktctl.output(),
          /INF -{20,}\n.*INF Start SOCKS5? Proxy: export http_proxy=\S+\n.*INF HTTP-only tools can use http:\/\/127\.0\.0\.1:\d+; browsers can use the PAC URL http:\/\/127\.0\.0\.1:\d+\/proxy\.pac\n.*INF -{20,}/,
        );
        const ns = WEB.namespace;
        for (
          const name of [
            WEB.service,
            `${WEB.service}.${ns}`,
            `${WEB.service}.${ns}.svc`,
            `${WEB.service}.${ns}.svc.cluster.local`,
            await serviceIp(ns, WEB.service),
          ]
        ) {
          const r = await curlWithEnv(ktctl.proxyUrl, `http://${name}/hello`);
          assert.equal(r.code, 0, `${name}: ${r.stderr}`);
          assert.match(r.body, new RegExp(`^pod=${ns}/web-\\d\\n`), name);
        }
        const other = await curlWithEnv(ktctl.proxyUrl, `http://${API.service}.${API.namespace}/`);
        assert.match(other.body, /^pod=other\/api-\d\n/, other.stderr);
        const pod = WEB.pods[1];
        const byPodIp = await curlWithEnv(
          ktctl.proxyUrl,
          `http://${await podIp(ns, pod)}:${POD_PORTS.http}/`,
        );
        assert.match(byPodIp.body, new RegExp(`^pod=${ns}/${pod}\\n`), byPodIp.stderr);
        const headless = await curlWithEnv(
          ktctl.proxyUrl,
          `http://${pod}.${WEB.headlessService}.${ns}.svc.cluster.local:${POD_PORTS.http}/`,
        );
        assert.match(headless.body, new RegExp(`^pod=${ns}/${pod}\\n`), headless.stderr);
        const dashed = (await podIp(ns, pod)).replaceAll(".", "-");
        const podDns = await curlWithEnv(
          ktctl.proxyUrl,
          `http://${dashed}.${ns}.pod.cluster.local:${POD_PORTS.http}/`,
        );
        assert.match(podDns.body, new RegExp(`^pod=${ns}/${pod}\\n`), podDns.stderr);
        // Plain socks4:// and socks5:// make curl resolve names itself: addresses only.
        const plain = swapScheme(ktctl.proxyUrl, method === "socks" ? "socks4" : "socks5");
        const viaPlain = await curl(plain, `http://${await serviceIp(ns, WEB.service)}/`);
        assert.match(viaPlain.body, /^pod=demo\/web-\d\n/, viaPlain.stderr);
        const nameViaPlain = await curl(plain, `http://${WEB.service}.${ns}.svc.cluster.local/`);
        assert.notEqual(nameViaPlain.code, 0, "a locally resolved cluster name cannot work");
      } finally {
        assert.equal(await ktctl.stop(), 0);
      }
    },
  );
}

Deno.test("the named target port and raw TCP through socks5h", opts, async () => {
  const ktctl = await connect(["--method", "socks5"]);
  try {
    const port = ktctl.port;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const name = new TextEncoder().encode(`${WEB.service}.${WEB.namespace}`);
    await conn.write(new Uint8Array([5, 1, 0]));
    assert.deepEqual([...await readExactly(conn, 2)], [5, 0]);
    const p = WEB.tcpServicePort;
    await conn.write(new Uint8Array([5, 1, 0, 3, name.length, ...name, p >> 8, p & 0xff]));
    assert.equal((await readExactly(conn, 10))[1], 0);
    const hello = new TextDecoder().decode(await readExactly(conn, "pod=demo/web-0\n".length));
    assert.match(hello, /^pod=demo\/web-\d\n$/);
    await conn.write(new TextEncoder().encode("ping"));
    assert.equal(new TextDecoder().decode(await readExactly(conn, 4)), "ping");
    conn.close();
  } finally {
    await ktctl.stop();
  }
});

/** ktctl's established TCP connections to the API server (from `ss`). */
async function apiConnections(pid: number): Promise<number> {
  const apiPort = new URL(info.server).port;
  const out = await new Deno.Command("ss", { args: ["-tnpH", "state", "established"] }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((l) => l.includes(`pid=${pid},`) && l.includes(`:${apiPort} `)).length;
}

Deno.test(
  "multiplexed: connections to one pod share one connection to the API server",
  opts,
  async () => {
    const held = 12;
    const counts: Record<string, number> = {};
    for (const portForward of ["multiplexed", "websocket"]) {
      const ktctl = await connect(["--method", "socks5", "--portForward", portForward]);
      const conns: Deno.TcpConn[] = [];
      try {
        const host = `${WEB.pods[0]}.${WEB.headlessService}.${WEB.namespace}.svc.cluster.local`;
        for (let i = 0; i < held; i++) {
          const { conn, reply } = await socks5Connect(ktctl.port, host, POD_PORTS.echo);
          conns.push(conn);
          assert.equal(reply, 0);
          const hello = new TextDecoder().decode(
            await readExactly(conn, "pod=demo/web-0\n".length),
          );
          assert.equal(hello, `pod=${WEB.namespace}/${WEB.pods[0]}\n`);
        }
        // All still open and each still its own stream.
        for (const [i, conn] of conns.entries()) {
          await conn.write(new TextEncoder().encode(`#${i}`.padEnd(4)));
          assert.equal(new TextDecoder().decode(await readExactly(conn, 4)), `#${i}`.padEnd(4));
        }
        counts[portForward] = await apiConnections(ktctl.child.pid);
      } finally {
        for (const c of conns) c.close();
        await ktctl.stop();
      }
    }
    // Multiplexed: one session for the pod, plus the API watches and warm spare connections.
    assert.ok(counts.multiplexed < 6, JSON.stringify(counts));
    assert.ok(counts.websocket >= held, JSON.stringify(counts));
  },
);

Deno.test("connections to a service are spread over its replicas", opts, async () => {
  const ktctl = await connect([]);
  try {
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const r = await curlWithEnv(ktctl.proxyUrl, `http://${WEB.service}.${WEB.namespace}/`);
      seen.add(r.body.split("\n")[0]);
    }
    assert.deepEqual([...seen].sort(), WEB.pods.map((p) => `pod=${WEB.namespace}/${p}`).sort());
  } finally {
    await ktctl.stop();
  }
});

Deno.test("unknown names, refused ports and empty services fail fast", opts, async () => {
  const ktctl = await connect(["--method", "socks5", "-d"]);
  try {
    for (
      const url of [
        `http://nosuch.${WEB.namespace}.svc.cluster.local/`,
        `http://${EMPTY.service}.${EMPTY.namespace}/`,
        `http://${WEB.service}.${WEB.namespace}:81/`,
        "http://10.96.250.250/",
      ]
    ) {
      const r = await curlWithEnv(ktctl.proxyUrl, url);
      assert.equal(r.code, 97, `${url}: ${r.code} ${r.stderr}`);
    }
    const refused = await curlWithEnv(
      ktctl.proxyUrl,
      `http://${REFUSER.service}.${REFUSER.namespace}/`,
    );
    assert.notEqual(refused.code, 0, "a refused pod port must not look like a success");
    assert.equal(refused.body, "");
    // A failed connection's one line (WRN: it failed) is written when ktctl has finished with it.
    for (let i = 0; i < 50 && !/WRN .*refuser/.test(ktctl.output()); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(ktctl.output(), /WRN .*refuser/);
    assert.equal(ktctl.output().match(/refuser\.demo:80/g)?.length, 1, "logged once");
  } finally {
    await ktctl.stop();
  }
});

Deno.test("a namespace-limited token works within its namespace", opts, async () => {
  const ktctl = await connect(["--method", "socks5"], info.kubeconfigs.limited);
  try {
    assert.match(ktctl.output(), /only namespace demo is reachable/);
    const r = await curlWithEnv(ktctl.proxyUrl, `http://${WEB.service}/`);
    assert.match(r.body, /^pod=demo\/web-\d\n/, r.stderr);
    const elsewhere = await curlWithEnv(
      ktctl.proxyUrl,
      `http://${API.service}.${API.namespace}.svc.cluster.local/`,
    );
    assert.equal(elsewhere.code, 97);
  } finally {
    await ktctl.stop();
  }
});

Deno.test("bearer-token and client-certificate kubeconfigs both work", opts, async () => {
  for (const kubeconfig of [info.kubeconfigs.token, info.kubeconfigs.admin]) {
    const text = await Deno.readTextFile(kubeconfig);
    assert.match(text, kubeconfig === info.kubeconfigs.token ? /"?token"?:/ : /client-certificate/);
    const ktctl = await connect([], kubeconfig);
    try {
      const r = await curlWithEnv(ktctl.proxyUrl, `http://${WEB.service}.${WEB.namespace}/`);
      assert.match(r.body, /^pod=demo\/web-\d\n/, r.stderr);
    } finally {
      await ktctl.stop();
    }
  }
});

Deno.test("a pod deleted during a transfer ends the client's connection", opts, async () => {
  const ktctl = await connect(["--method", "socks5"]);
  try {
    const { conn, reply } = await socks5Connect(
      ktctl.port,
      `${BULK.service}.${BULK.namespace}`,
      BULK.port,
    );
    assert.equal(reply, 0);
    const size = 4 * 1024 * 1024 * 1024;
    await conn.write(new TextEncoder().encode(`GET ${size}\n`));
    await readExactly(conn, 1024 * 1024);
    const started = performance.now();
    const reading = readAll(conn);
    await deletePod(BULK.namespace, BULK.pod, { wait: true, gracePeriodSeconds: 0 });
    const rest = await reading;
    assert.ok(rest.length + 1024 * 1024 < size, "the transfer must not complete");
    assert.ok(performance.now() - started < 60_000);
    conn.close();
  } finally {
    await ktctl.stop();
    await ensureCluster({ resetFixture: true });
  }
});

Deno.test(
  "after an API server restart new connections work without restarting ktctl",
  opts,
  async () => {
    const ktctl = await connect([]);
    try {
      const url = `http://${WEB.service}.${WEB.namespace}/`;
      assert.equal((await curlWithEnv(ktctl.proxyUrl, url)).code, 0);
      await restartApiServer({ downtimeMs: 2000 });
      let ok = false;
      for (let i = 0; i < 30 && !ok; i++) {
        ok = (await curlWithEnv(ktctl.proxyUrl, url)).code === 0;
        if (!ok) await new Promise((r) => setTimeout(r, 1000));
      }
      assert.ok(ok, `no connection succeeded after the restart:\n${ktctl.output()}`);
      // The watches came back too: a service created now is reachable by name.
      await kubectl([
        "--kubeconfig",
        info.kubeconfigs.admin,
        "-n",
        WEB.namespace,
        "create",
        "service",
        "clusterip",
        "late",
        "--tcp=80:8080",
      ]);
      await kubectl([
        "--kubeconfig",
        info.kubeconfigs.admin,
        "-n",
        WEB.namespace,
        "set",
        "selector",
        "service",
        "late",
        "app=web",
      ]);
      let late = 97;
      for (let i = 0; i < 20 && late !== 0; i++) {
        late = (await curlWithEnv(ktctl.proxyUrl, `http://late.${WEB.namespace}/`)).code;
        if (late !== 0) await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(late, 0, ktctl.output());
    } finally {
      await kubectl([
        "--kubeconfig",
        info.kubeconfigs.admin,
        "-n",
        WEB.namespace,
        "delete",
        "service",
        "late",
        "--ignore-not-found",
      ]);
      await ktctl.stop();
    }
  },
);

function chromium(proxy: string, url: string): Promise<string> {
  return chromiumDom(url, [`--proxy-server=${proxy}`]);
}

Deno.test("Chromium loads a cluster page through the proxy in each mode", opts, async () => {
  // socks mode is what the Windows system proxy and every browser speak: SOCKS4, which browsers
  // use with addresses they resolve themselves, so a ClusterIP works.
  const socks = await connect([]);
  try {
    const ip = await serviceIp(WEB.namespace, WEB.service);
    const dom = await chromium(`socks4://127.0.0.1:${socks.port}`, `http://${ip}/`);
    assert.match(dom, /pod=demo\/web-\d/);
  } finally {
    await socks.stop();
  }
  // SOCKS5 browsers send names, so cluster DNS names work.
  const socks5 = await connect(["--method", "socks5"]);
  try {
    const dom = await chromium(
      `socks5://127.0.0.1:${socks5.port}`,
      `http://${WEB.service}.${WEB.namespace}.svc.cluster.local/`,
    );
    assert.match(dom, /pod=demo\/web-\d/);
  } finally {
    await socks5.stop();
  }
});

Deno.test("Ctrl+C stops ktctl cleanly", opts, async () => {
  const ktctl = await connect([]);
  const code = await ktctl.stop("SIGINT");
  assert.equal(code, 0);
  assert.match(ktctl.output(), /INF Stopped/);
});

Deno.test(
  "a client that does not read keeps ktctl's memory bounded (TLS to the API server)",
  opts,
  async () => {
    const ktctl = await connect(["--method", "socks5"]);
    const rssMB = () =>
      Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${ktctl.child.pid}/status`))![1]) /
      1024;
    try {
      const { conn, reply } = await socks5Connect(
        ktctl.port,
        `${BULK.service}.${BULK.namespace}`,
        BULK.port,
      );
      assert.equal(reply, 0);
      const before = rssMB();
      await conn.write(new TextEncoder().encode(`GET ${512 * 1024 * 1024}\n`));
      await new Promise((r) => setTimeout(r, 3000));
      const grown = rssMB() - before;
      assert.ok(grown < 64, `ktctl grew by ${grown.toFixed(0)} MB for a client that reads nothing`);
      conn.close();
    } finally {
      await ktctl.stop();
    }
  },
);
