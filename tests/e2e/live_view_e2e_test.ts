/**
 * The live view against the real control plane: real Chromium keeps ktctl's page open while real
 * curl and python3 download through ktctl and a request fails; the page shows them (through the
 * DOM) and updates without a reload; a screenshot is kept (KTCTL_ARTIFACTS, else a temp folder;
 * KTCTL_UPDATE_SCREENSHOT=1 also writes docs/live-view.png). `/api/status` is checked against
 * its schema under that traffic. A page on another loopback origin gets nothing of ktctl's own
 * pages: not by `<script src>`, not by `fetch`, not after a rebinding-style Host change.
 * At the default log level, the failed connection is one WRN line; `-n` with a namespace that
 * does not exist warns with the namespaces seen.
 */
import assert from "node:assert/strict";
import { BULK_HTTP, clusterInfo, ensureCluster, WEB } from "../../testenv/cluster/mod.ts";
import { type KtctlProcess, startKtctl } from "../../testenv/ktctl_process.ts";
import { openPage } from "../helpers/cdp.ts";
import { chromiumDom } from "../helpers/chromium.ts";
import { waitFor } from "../helpers/wait.ts";
import { fetchOwnStatus } from "../../src/cli/status.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
await ensureCluster();
const info = await clusterInfo();
const home = await Deno.makeTempDir({ prefix: "ktctl-live-" });
const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128"];

function connect(extra: string[] = []): Promise<KtctlProcess> {
  return startKtctl(
    ["-c", info.kubeconfigs.admin, "-n", WEB.namespace, "--method", "http", ...SAFE, ...extra],
    { env: { HOME: home, USERPROFILE: home } },
  );
}

/** Slow downloads, so that the connections stay open while the page looks. */
function slowCurl(proxy: string): Deno.ChildProcess {
  return new Deno.Command("curl", {
    args: [
      "-sS",
      "--limit-rate",
      "50K",
      "-x",
      proxy,
      "-o",
      "/dev/null",
      `http://${BULK_HTTP.service}.${BULK_HTTP.namespace}/50000000`,
    ],
    env: { no_proxy: "", NO_PROXY: "" },
    stdout: "null",
    stderr: "null",
  }).spawn();
}

function slowPython(proxy: string): Deno.ChildProcess {
  const script = `
import time, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": "${proxy}"}))
r = opener.open("http://${BULK_HTTP.service}.${BULK_HTTP.namespace}/50000000")
while r.read(16384):
    time.sleep(0.2)
`;
  return new Deno.Command("python3", {
    args: ["-c", script],
    env: { no_proxy: "", NO_PROXY: "" },
    stdout: "null",
    stderr: "null",
  }).spawn();
}

function stop(child: Deno.ChildProcess) {
  try {
    child.kill("SIGKILL");
  } catch { /* ended */ }
  return child.status;
}

interface Row {
  program: string;
  /** The Program column as shown: `curl (pid 4242)`. */
  shown: string;
  destination: string;
  received: string;
}

Deno.test(
  "live view: Chromium shows curl's and python3's connections and a failure, updating by itself",
  opts,
  async () => {
    const ktctl = await connect();
    const proxy = `http://127.0.0.1:${ktctl.port}`;
    const page = await openPage(`${proxy}/`, [], "900,1100");
    const clients: Deno.ChildProcess[] = [];
    try {
      // Marks this document: a reload would lose it.
      await waitFor(
        async () =>
          (await page.evaluate<string>("document.getElementById('state')?.textContent ?? ''"))
            .startsWith("Updated"),
        30_000,
        "the page's first update",
      );
      await page.evaluate("window.__sameDocument = true");
      clients.push(slowCurl(proxy), slowPython(proxy));
      const failed = await new Deno.Command("curl", {
        args: [
          "-sS",
          "-x",
          proxy,
          "--max-time",
          "10",
          `http://${WEB.service}.${WEB.namespace}:81/`,
        ],
        env: { no_proxy: "", NO_PROXY: "" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.match(new TextDecoder().decode(failed.stdout), /could not reach/);

      const rows = () =>
        page.evaluate<Row[]>(
          `[...document.querySelectorAll('#conn-body tr[data-id]')].map((tr) => ({
          program: tr.dataset.program, shown: tr.cells[0].textContent,
          destination: tr.cells[1].textContent,
          received: tr.cells[4].textContent }))`,
        );
      const bulk = `${BULK_HTTP.service}.${BULK_HTTP.namespace}:80`;
      await waitFor(
        async () => (await rows()).filter((r) => r.destination === bulk).length >= 2,
        30_000,
        "both downloads on the page",
      );
      // Admission names each client program beside its connection (process name and pid): the
      // Program column shows curl and python3 with their pids, and /api/status the same.
      const shownAs = (name: string, child: Deno.ChildProcess) => `${name} (pid ${child.pid})`;
      let seen: Row[] = [];
      await waitFor(
        async () => {
          seen = await rows();
          const shown = new Set(seen.map((r) => r.shown));
          return shown.has(shownAs("curl", clients[0])) &&
            shown.has(shownAs("python3", clients[1]));
        },
        30_000,
        "curl and python3 named, with their pids, in the Program column",
      ).catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
      });
      assert.deepEqual(
        new Set((await rows()).filter((r) => r.destination === bulk).map((r) => r.program)),
        new Set(["curl", "python3"]),
      );
      const status = JSON.parse((await fetchOwnStatus("127.0.0.1", ktctl.port))!);
      const named = status.connections.items
        .filter((c: { destination: string }) => c.destination === bulk)
        .map((c: { program: { name: string; pid: number } | null }) => c.program);
      for (const [name, child] of [["curl", clients[0]], ["python3", clients[1]]] as const) {
        assert.ok(
          named.some((p: { name: string; pid: number } | null) =>
            p?.name === name && p.pid === child.pid
          ),
          `${name} (pid ${child.pid}) in /api/status: ${JSON.stringify(named)}`,
        );
      }
      await waitFor(
        async () =>
          (await page.evaluate<string>("document.getElementById('fail-body').textContent"))
            .includes(
              `${WEB.service}.${WEB.namespace}:81`,
            ),
        30_000,
        "the failure on the page",
      );
      assert.match(
        await page.evaluate<string>(
          "document.querySelector('#fail-body tr[data-kind]').dataset.kind",
        ),
        /no-port/,
      );
      // The failure names its program too: the curl that asked for port 81 (named beside the
      // connection, so possibly a refresh after the failure itself).
      await waitFor(
        async () =>
          await page.evaluate<string>(
            "document.querySelector('#fail-body tr[data-kind]').dataset.program",
          ) === "curl",
        10_000,
        "the failure's program",
      );
      // Updates without a reload: the bytes received grow, in the same document.
      const before = (await rows()).find((r) => r.destination === bulk)!.received;
      await waitFor(
        async () => (await rows()).some((r) => r.destination === bulk && r.received !== before),
        30_000,
        "the byte counts to move",
      );
      assert.equal(await page.evaluate<boolean>("window.__sameDocument === true"), true);
      assert.match(before, /^\d+(\.\d)? (B|KiB|MiB)$/);

      // The screenshot: an artifact, not compared; taken once both downloads have bytes.
      await waitFor(
        async () =>
          (await rows()).filter((r) => r.destination === bulk && r.received !== "0 B").length >= 2,
        30_000,
        "bytes received on both downloads",
      );
      const png = await page.screenshot();
      const dir = Deno.env.get("KTCTL_ARTIFACTS") ??
        await Deno.makeTempDir({ prefix: "ktctl-artifacts-" });
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeFile(`${dir}/live-view.png`, png);
      if (Deno.env.get("KTCTL_UPDATE_SCREENSHOT") === "1") {
        await Deno.writeFile("docs/live-view.png", png);
      }
      console.log(`screenshot: ${dir}/live-view.png (${png.length} bytes)`);
      assert.ok(png.length > 10_000);

      // A narrow window: the page itself never scrolls sideways (wide tables scroll in place),
      // and the sort buttons work from the keyboard.
      const narrow = await openPage(`${proxy}/`, [], "380,800");
      try {
        await waitFor(
          async () =>
            (await narrow.evaluate<number>(
              "document.querySelectorAll('#conn-body tr[data-id]').length",
            )) >= 2,
          30_000,
          "the narrow page's rows",
        );
        assert.equal(
          await narrow.evaluate<boolean>(
            "document.documentElement.scrollWidth <= window.innerWidth",
          ),
          true,
        );
        const sorted = await narrow.evaluate<string>(`(() => {
          const b = document.querySelector('th button[data-sort=receivedBytes]');
          b.focus();
          b.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
          b.click();
          return document.activeElement === b ? b.getAttribute('aria-sort') : 'not focusable';
        })()`);
        assert.equal(sorted, "ascending");
      } finally {
        await narrow.close();
      }

      // The same failure, at the default level: one WRN line with its reason, and only one.
      const warned = ktctl.output().split("\n").filter((l) => / WRN .*web\.demo:81/.test(l));
      assert.equal(warned.length, 1, ktctl.output());
      assert.match(warned[0], /GET http:\/\/web\.demo:81\/|web\.demo:81: /);
    } finally {
      for (const c of clients) await stop(c);
      await page.close();
      assert.equal(await ktctl.stop(), 0);
    }
  },
);

/** Checks `value` against a tiny schema: a type name, an array of one schema, or an object. */
type Schema = string | [Schema] | { [k: string]: Schema };
function check(value: unknown, schema: Schema, path = "$"): void {
  if (typeof schema === "string") {
    const types = schema.split("|");
    const t = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
    assert.ok(
      types.includes(t) || (types.includes("object") && t === "object"),
      `${path}: ${t}, not ${schema}`,
    );
    return;
  }
  if (Array.isArray(schema)) {
    assert.ok(Array.isArray(value), `${path}: not an array`);
    (value as unknown[]).forEach((v, i) => check(v, schema[0], `${path}[${i}]`));
    return;
  }
  assert.ok(typeof value === "object" && value !== null, `${path}: not an object`);
  for (const [k, s] of Object.entries(schema)) {
    check((value as Record<string, unknown>)[k], s, `${path}.${k}`);
  }
}

const PROGRAM = "object|null";
const STATUS_SCHEMA: Schema = {
  schema: "string",
  version: "number",
  generatedAt: "string",
  ktctl: { version: "string", pid: "number", command: "string" },
  session: {
    context: "string",
    server: "string",
    namespace: "string",
    mode: "string",
    address: "string",
    proxyUrl: "string",
    pacUrl: "string",
    startedAt: "string",
    uptimeSeconds: "number",
    globalSettings: { applied: "boolean", values: [{ name: "string", value: "string" }] },
    upstreamProxy: "string|null",
    scope: "string",
    namespaces: ["string"],
    api: {
      roundTripMs: "number|null",
      checkedAt: "string|null",
      watchesHealthy: "boolean",
      watches: [{ path: "string", up: "boolean", lastEventAt: "string|null", opened: "number" }],
    },
  },
  traffic: {
    open: "number",
    lastMinute: { connections: "number", failures: "number" },
    total: {
      connections: "number",
      failures: "number",
      sentBytes: "number",
      receivedBytes: "number",
    },
    perMinute: [{
      minute: "string",
      connections: "number",
      failures: "number",
      sentBytes: "number",
      receivedBytes: "number",
    }],
  },
  connections: {
    open: "number",
    shown: "number",
    items: [{
      id: "number",
      client: "string",
      program: PROGRAM,
      destination: "string",
      via: "string",
      sentBytes: "number",
      receivedBytes: "number",
      startedAt: "string",
      ageSeconds: "number",
    }],
  },
  failures: [{
    at: "string",
    id: "number",
    client: "string",
    program: PROGRAM,
    destination: "string",
    kind: "string",
    sentence: "string",
  }],
  tunnels: {
    mode: "string",
    fellBack: "string|null",
    pods: [{ pod: "string", sessions: "number", connections: "number" }],
  },
  forwards: ["object"],
};

Deno.test("/api/status: the documented schema, under live traffic", opts, async () => {
  const ktctl = await connect();
  const proxy = `http://127.0.0.1:${ktctl.port}`;
  const curl = slowCurl(proxy);
  try {
    await new Deno.Command("curl", {
      args: ["-sS", "-x", proxy, "--max-time", "10", `http://${WEB.service}.${WEB.namespace}:81/`],
      stdout: "null",
      stderr: "null",
    }).output();
    let doc: Record<string, unknown> = {};
    await waitFor(
      async () => {
        doc = JSON.parse((await fetchOwnStatus("127.0.0.1", ktctl.port)) ?? "{}");
        const items =
          (doc.connections as { items: { receivedBytes: number }[] } | undefined)?.items ?? [];
        return items.some((c) => c.receivedBytes > 0) && (doc.failures as unknown[]).length > 0 &&
          (doc.session as { api: { roundTripMs: number | null } }).api.roundTripMs !== null;
      },
      30_000,
      "a connection with bytes, a failure and the API round trip",
    );
    check(doc, STATUS_SCHEMA);
    assert.equal(doc.schema, "ktctl-status");
    assert.equal(doc.version, 1);
    const s = doc.session as Record<string, unknown>;
    assert.equal(s.mode, "http");
    assert.equal(s.namespace, WEB.namespace);
    assert.ok((s.namespaces as string[]).includes(WEB.namespace));
    const c = (doc.connections as { items: Record<string, unknown>[] }).items[0];
    assert.equal(c.destination, `${BULK_HTTP.service}.${BULK_HTTP.namespace}:80`);
    assert.match(c.via as string, /bulk-http/);
    const tunnels = doc.tunnels as { pods: { pod: string; connections: number }[] };
    assert.ok(
      tunnels.pods.some((p) =>
        p.pod === `${BULK_HTTP.namespace}/${BULK_HTTP.pod}` && p.connections >= 1
      ),
    );
    const f = (doc.failures as Record<string, unknown>[])[0];
    assert.equal(f.kind, "no-port");
    assert.equal(f.destination, `${WEB.service}.${WEB.namespace}:81`);
  } finally {
    await stop(curl);
    assert.equal(await ktctl.stop(), 0);
  }
});

Deno.test(
  "own pages: a page on another loopback origin gets nothing, by script, fetch or rebinding",
  opts,
  async () => {
    const ktctl = await connect();
    const own = `127.0.0.1:${ktctl.port}`;
    // The hostile page, on another loopback address.
    const hostile = Deno.serve(
      { hostname: "127.0.0.2", port: 0, onListen: () => {} },
      () =>
        new Response(
          `<!doctype html><html><body><pre id="out">waiting</pre>
<script src="http://${own}/proxy.pac"></script>
<script>
const out = { script: typeof NAMESPACES === "undefined" ? "nothing" : JSON.stringify(NAMESPACES) };
Promise.all([
  fetch("http://${own}/proxy.pac").then((r) => r.text()).then((t) => out.fetchPac = t || "empty", (e) => out.fetchPac = "refused"),
  fetch("http://${own}/api/status").then((r) => r.text()).then((t) => out.fetchStatus = t || "empty", (e) => out.fetchStatus = "refused"),
  fetch("http://${own}/proxy.pac", { mode: "no-cors" }).then((r) => out.noCors = r.type + ":" + r.status, () => out.noCors = "refused"),
]).then(() => document.getElementById("out").textContent = JSON.stringify(out));
</script></body></html>`,
          { headers: { "content-type": "text/html" } },
        ),
    );
    try {
      const dom = await chromiumDom(`http://127.0.0.2:${hostile.addr.port}/`, [
        "--virtual-time-budget=10000",
      ]);
      const out = JSON.parse(
        dom.match(/<pre id="out">([^<]*)<\/pre>/)?.[1].replaceAll("&quot;", '"') ?? "{}",
      );
      assert.equal(out.script, "nothing", dom);
      assert.equal(out.fetchPac, "refused");
      assert.equal(out.fetchStatus, "refused");
      assert.ok(out.noCors === "refused" || out.noCors === "opaque:0", out.noCors);
      // Rebinding: the attacker's name now resolves to 127.0.0.1, and its page asks for ktctl's.
      const rebind = ["--host-resolver-rules=MAP rebind.example 127.0.0.1"];
      for (const path of ["/", "/api/status"]) {
        const rebound = await chromiumDom(`http://rebind.example:${ktctl.port}${path}`, rebind);
        assert.doesNotMatch(rebound, /ktctl|demo|kwok/, path);
      }
      // The user's own browser still gets them, and the live page still reads its data.
      const mine = await chromiumDom(`http://${own}/`, ["--virtual-time-budget=5000"]);
      assert.match(mine, /Namespaces seen/);
      assert.match(mine, new RegExp(`\\b${WEB.namespace}\\b`));
      const json = await chromiumDom(`http://${own}/api/status`, []);
      assert.match(json, /"schema":"ktctl-status"/);
      // Chromium's own PAC fetch (no Origin, no Sec-Fetch-Site) is served: the PAC still works.
      const viaPac = await chromiumDom(`http://${WEB.service}.${WEB.namespace}/`, [
        `--proxy-pac-url=http://${own}/proxy.pac`,
      ], 30_000);
      assert.match(viaPac, new RegExp(`pod=${WEB.namespace}/web-\\d`));
    } finally {
      await hostile.shutdown();
      assert.equal(await ktctl.stop(), 0);
    }
  },
);

Deno.test(
  "newcomer: -n with a namespace that does not exist warns with the namespaces seen",
  opts,
  async () => {
    const ktctl = await startKtctl(
      ["-c", info.kubeconfigs.admin, "-n", "does-not-exist", ...SAFE],
      { env: { HOME: home, USERPROFILE: home } },
    );
    try {
      await waitFor(
        () => ktctl.output().includes("Live view:"),
        10_000,
        "the lines after the banner",
      );
      const out = ktctl.output();
      assert.match(
        out,
        /^\d{1,2}:\d\d[AP]M INF Connecting to \S+ at https:\/\/127\.0\.0\.1:\d+\.\.\.$/m,
      );
      assert.match(
        out,
        /WRN Namespace does-not-exist does not exist: short names will not resolve \(namespaces: .*\bdemo\b.*\)/,
      );
      assert.match(out, new RegExp(`Live view: http://127\\.0\\.0\\.1:${ktctl.port}/`));
    } finally {
      const code = await ktctl.stop();
      assert.equal(code, 0);
      assert.doesNotMatch(ktctl.output(), /clean/, "nothing was changed: no word of ktctl clean");
    }
  },
);

Deno.test(
  "newcomer: off Windows, --setupGlobalProxy keeps the banner's HTTP and PAC lines and says it changes nothing",
  opts,
  async () => {
    const ktctl = await connect(["--setupGlobalProxy"]);
    try {
      await waitFor(
        () => ktctl.output().includes("Live view:"),
        10_000,
        "the lines after the banner",
      );
      const out = ktctl.output();
      assert.match(
        out,
        /INF Start HTTP Proxy: export http_proxy=http:\/\/127\.0\.0\.1:\d+ https_proxy=/,
      );
      assert.match(
        out,
        /INF Browsers: proxy auto-config URL http:\/\/127\.0\.0\.1:\d+\/proxy\.pac/,
      );
      assert.match(out, /INF --setupGlobalProxy changes settings on Windows only/);
    } finally {
      assert.equal(await ktctl.stop(), 0);
      assert.doesNotMatch(ktctl.output(), /clean/);
    }
  },
);

/** `ktctl status [--json]` as a user runs it, with `home` as HOME. */
async function ktctlStatus(statusHome: string, json = false) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "main.ts", "status", ...(json ? ["--json"] : [])],
    env: {
      HOME: statusHome,
      USERPROFILE: statusHome,
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

Deno.test(
  "ktctl status: two real connects, then one killed with SIGKILL, then none",
  opts,
  async () => {
    const statusHome = await Deno.makeTempDir({ prefix: "ktctl-status-e2e-" });
    const start = (method: string) =>
      startKtctl(
        ["-c", info.kubeconfigs.admin, "-n", WEB.namespace, "--method", method, ...SAFE],
        { env: { HOME: statusHome, USERPROFILE: statusHome } },
      );
    const a = await start("http");
    const b = await start("socks5");
    try {
      const two = await ktctlStatus(statusHome);
      assert.equal(two.code, 0, two.stdout);
      for (const [k, mode] of [[a, "http"], [b, "socks5"]] as const) {
        assert.match(
          two.stdout,
          new RegExp(
            `ktctl connect on 127\\.0\\.0\\.1:${k.port} \\(pid ${k.child.pid}\\): ${mode} mode, ` +
              `context kwok-ktctl at https://127\\.0\\.0\\.1:\\d+, up \\d+ s\\n` +
              `  last minute: \\d+ connections?, 0 failures; 0 open now\\n` +
              `  global settings: not applied; live view: http://127\\.0\\.0\\.1:${k.port}/`,
          ),
        );
      }
      assert.equal(await b.stop("SIGKILL"), 137);
      const one = await ktctlStatus(statusHome, true);
      assert.equal(one.code, 0);
      const list = JSON.parse(one.stdout);
      const byPort = (p: number) =>
        list.processes.find((e: { address: string }) => e.address === `127.0.0.1:${p}`);
      assert.equal(byPort(a.port).state, "running");
      assert.equal(byPort(a.port).status.mode, "http");
      // Killed, it changed nothing on this machine: nothing to clean, so it is not listed.
      assert.equal(byPort(b.port), undefined, one.stdout);
    } finally {
      await b.stop("SIGKILL");
      assert.equal(await a.stop(), 0);
    }
    const none = await ktctlStatus(statusHome);
    assert.equal(none.code, 1, none.stdout);
    assert.doesNotMatch(none.stdout, /ktctl connect on/);
  },
);
