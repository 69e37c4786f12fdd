/**
 * Forwards made visible, against the real local control plane and the shared fixture's
 * demo/web service: `ktctl forward svc/web.demo :80` is found by `ktctl status --json` (a
 * separate process, through the forward's claim on its status port) with its connections after
 * a real curl through it, its `/api/status` lists a held connection with its program and pod, and
 * Chromium shows the forward's own live page with its row; the claim is gone once it stops; `connect --forward` lists the forward in the proxy's
 * `/api/status`. Needs the cluster up (`deno task cluster up`).
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster } from "../../testenv/cluster/mod.ts";
import { freePort } from "../../testenv/ktctl_process.ts";
import { fetchOwnStatus } from "../../src/cli/status.ts";
import type { StatusV1 } from "../../src/cli/status_model.ts";
import { runKtctl } from "../helpers/ktctl_cli.ts";
import { chromiumDom } from "../helpers/chromium.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
await ensureCluster();
const info = await clusterInfo();
const admin = ["-c", info.kubeconfigs.admin];
// Only loopback may ever be dialled directly: the cluster's pod IPs are fake.
const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128"];

/** curl straight at a forward's local port (no proxy); the HTTP status code. */
async function curl(port: number): Promise<string> {
  const r = await new Deno.Command("curl", {
    args: [
      "-sS",
      "--noproxy",
      "*",
      "-m",
      "20",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `http://127.0.0.1:${port}/`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(r.stdout).trim() || new TextDecoder().decode(r.stderr);
}

async function apiStatus(port: number): Promise<StatusV1> {
  const body = await fetchOwnStatus("127.0.0.1", port);
  assert.ok(body, `no /api/status on 127.0.0.1:${port}`);
  return JSON.parse(body) as StatusV1;
}

interface ListedForward {
  local: string;
  target: string;
  state: string;
  connections: number;
  totalConnections: number;
}
interface Listed {
  address: string;
  pid: number;
  state: string;
  status?: { command: string; forwardList: ListedForward[] };
}

async function ktctlStatus(env: Record<string, string>): Promise<{ code: number; list: Listed[] }> {
  const k = runKtctl(["status", "--json"], env);
  const code = await k.exited;
  return { code, list: (JSON.parse(k.stdout()) as { processes: Listed[] }).processes };
}

Deno.test(
  "forward status: ktctl forward is found by ktctl status with its connections",
  opts,
  async () => {
    const home = await Deno.makeTempDir({ prefix: "ktctl-fwdstatus-home-" });
    const env = { HOME: home, USERPROFILE: home };
    const k = runKtctl(["forward", ...admin, "svc/web.demo", ":80"], env);
    let held: Deno.Conn | undefined;
    try {
      const port = Number((await k.waitFor(/127\.0\.0\.1:(\d+) → service demo\/web:80/))[1]);
      const statusPort = Number((await k.waitFor(/Live view: http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
      assert.notEqual(statusPort, port);

      assert.equal(await curl(port), "200");
      await waitFor(
        async () => {
          const f = (await apiStatus(statusPort)).forwards[0];
          return f.totalConnections >= 1 && f.connections === 0;
        },
        10_000,
        "the curl counted and ended",
      );

      // A connection held open: listed with its program and the pod it went to.
      held = await Deno.connect({ hostname: "127.0.0.1", port });
      await waitFor(
        async () => (await apiStatus(statusPort)).connections.items.length === 1,
        10_000,
        "the held connection in /api/status",
      );
      const doc = await apiStatus(statusPort);
      assert.equal(doc.ktctl.command, "forward");
      assert.equal(doc.ktctl.pid, k.child.pid);
      const item = doc.connections.items[0];
      assert.equal(item.destination, `forward 127.0.0.1:${port}`);
      assert.match(item.via, /^service demo\/web:80 → pod demo\/web-\d:8080$/);
      assert.match(item.program?.name ?? "", /deno/); // this test's own process
      assert.equal(doc.forwards.length, 1);
      assert.deepEqual(
        [doc.forwards[0].local, doc.forwards[0].target, doc.forwards[0].state],
        [`127.0.0.1:${port}`, "service demo/web:80", "listening"],
      );

      const { code, list } = await ktctlStatus(env);
      assert.equal(code, 0);
      assert.equal(list.length, 1);
      const p = list[0];
      assert.deepEqual([p.address, p.pid, p.state, p.status?.command], [
        `127.0.0.1:${statusPort}`,
        k.child.pid,
        "running",
        "forward",
      ]);
      const f = p.status!.forwardList[0];
      assert.deepEqual([f.local, f.target, f.connections], [
        `127.0.0.1:${port}`,
        "service demo/web:80",
        1,
      ]);
      assert.ok(f.totalConnections >= 2, JSON.stringify(f));

      // The forward's own live page (real Chromium): the forward's row, and no proxy to explain.
      const dom = await chromiumDom(`http://127.0.0.1:${statusPort}/`, [
        "--virtual-time-budget=5000",
      ]);
      assert.match(dom, /Forwards \(ktctl forward\) into the Kubernetes cluster/);
      assert.match(
        dom,
        new RegExp(
          `<tr data-local="127\\.0\\.0\\.1:${port}"><td>127\\.0\\.0\\.1:${port}</td>` +
            `<td>service demo/web:80</td><td class="ok">listening</td><td class="n">1</td>`,
        ),
      );
      assert.match(
        dom,
        /forward 127\.0\.0\.1:\d+<\/td><td>service demo\/web:80 → pod demo\/web-\d:8080/,
      );
      assert.doesNotMatch(dom, /SOCKS proxy/);

      // The text form names the forward too.
      const text = runKtctl(["status"], env);
      assert.equal(await text.exited, 0);
      assert.match(
        text.stdout(),
        new RegExp(`forward 127\\.0\\.0\\.1:${port} → service demo/web:80: listening, 1 open`),
      );
    } finally {
      held?.close();
      assert.equal(await k.stop(), 0, k.stderr());
    }
    // Stopped: its claim is gone, status finds nothing.
    const after = await ktctlStatus(env);
    assert.deepEqual([after.code, after.list], [1, []]);
    await Deno.remove(home, { recursive: true });
  },
);

Deno.test("forward status: connect --forward lists the forward in /api/status", opts, async () => {
  const home = await Deno.makeTempDir({ prefix: "ktctl-fwdstatus-home-" });
  const env = { HOME: home, USERPROFILE: home };
  const local = freePort();
  const k = runKtctl(
    ["connect", ...admin, ...SAFE, "--proxyPort", "0", "--forward", `web.demo:${local}:80`],
    env,
  );
  try {
    const statusPort = Number((await k.waitFor(/Live view: http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
    assert.equal(await curl(local), "200");
    await waitFor(
      async () => {
        const d = await apiStatus(statusPort);
        return d.forwards.length === 1 && d.forwards[0].totalConnections >= 1;
      },
      10_000,
      "the forward and its connection in /api/status",
    );
    const d = await apiStatus(statusPort);
    assert.equal(d.ktctl.command, "connect");
    assert.deepEqual(
      [d.forwards[0].local, d.forwards[0].target, d.forwards[0].state, d.forwards[0].failures],
      [`127.0.0.1:${local}`, "service demo/web:80", "listening", 0],
    );
    // The connection through the forward counts in the proxy's traffic too.
    assert.ok(d.traffic.total.connections >= 1, JSON.stringify(d.traffic));

    const { code, list } = await ktctlStatus(env);
    assert.equal(code, 0);
    assert.equal(list[0].status?.forwardList[0].target, "service demo/web:80");
  } finally {
    assert.equal(await k.stop(), 0, k.stderr());
  }
  await Deno.remove(home, { recursive: true });
});
