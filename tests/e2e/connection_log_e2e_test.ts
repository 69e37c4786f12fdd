/**
 * The connection log as a newcomer reads it (issue 21 item 4), with real curl through SOCKS4a,
 * SOCKS5 and HTTP against the real control plane:
 * - at the default level, one WRN line per failed connection, with its reason, and nothing for
 *   the connections that worked;
 * - under `-d`, exactly one line per connection (the program is named in it: no second line at
 *   accept), a failure as its WRN line only (no DBG twin), a good connection's natural end (a
 *   SOCKS tunnel the pod side ends after the client left) as DBG, never as a failure;
 * - Ctrl+C during a download is not a failure at either level;
 * - a peer refused at accept (another user's curl, through `runuser`) is one line too, under `-d`.
 */
import assert from "node:assert/strict";
import { BULK_HTTP, clusterInfo, ensureCluster, WEB } from "../../testenv/cluster/mod.ts";
import { type KtctlProcess, startKtctl } from "../../testenv/ktctl_process.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
await ensureCluster();
const info = await clusterInfo();
const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128"];
const METHODS = [["socks", "socks4a"], ["socks5", "socks5h"], ["http", "http"]] as const;

/**
 * Who made the connection: the program, or its address when the peer-owner lookup did not name
 * it in time on a loaded machine (naming itself is the live view test's to require).
 */
const WHO = /(curl \(pid \d+\)|127\.0\.0\.1:\d+) → /;
const GOOD = `http://${WEB.service}.${WEB.namespace}/`;
/** Failures, each with the reason its one line must give. */
const FAILING = [
  { url: `http://${WEB.service}.${WEB.namespace}:81/`, reason: /no TCP port 81 \(it has: / },
  { url: `http://refuser.${WEB.namespace}/`, reason: /refuser.*connection refused/ },
];

async function curl(proxy: string, url: string): Promise<number> {
  const out = await new Deno.Command("curl", {
    args: ["-fsS", "--max-time", "10", "-o", "/dev/null", "-x", proxy, url],
    env: { no_proxy: "", NO_PROXY: "" },
    stdout: "null",
    stderr: "null",
  }).output();
  return out.code;
}

/** A download slow enough to be open when ktctl is stopped. */
function slowDownload(proxy: string): Deno.ChildProcess {
  return new Deno.Command("curl", {
    args: [
      "-sS",
      "--limit-rate",
      "20K",
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

/** The log lines after the banner that name a connection (`#12 ...`), with their level. */
function connectionLines(k: KtctlProcess, from: number) {
  return k.output().slice(from).split("\n").flatMap((line) => {
    const m = line.match(/ (WRN|DBG|INF|ERR) #(\d+) /);
    return m ? [{ level: m[1], id: Number(m[2]), line }] : [];
  });
}

async function traffic(k: KtctlProcess, scheme: string) {
  const proxy = `${scheme}://127.0.0.1:${k.port}`;
  assert.equal(await curl(proxy, GOOD), 0, `${scheme}: ${GOOD}`);
  for (const f of FAILING) assert.notEqual(await curl(proxy, f.url), 0, `${scheme}: ${f.url}`);
  const download = slowDownload(proxy);
  const bulk = `${BULK_HTTP.service}.${BULK_HTTP.namespace}`;
  // Open and receiving (the live view's JSON lists it): then ktctl is stopped under it.
  await waitFor(
    async () => {
      const r = await fetch(`http://127.0.0.1:${k.port}/api/status`);
      const doc = await r.json();
      return doc.connections.items.some((c: { destination: string; receivedBytes: number }) =>
        c.destination.startsWith(bulk) && c.receivedBytes > 0
      );
    },
    30_000,
    `${scheme}: the download under way`,
  );
  return download;
}

for (const [method, scheme] of METHODS) {
  Deno.test(
    `connection log, --method ${method}: one WRN line per failed connection with its reason, nothing for good ones or Ctrl+C`,
    opts,
    async () => {
      const k = await startKtctl([
        "-c",
        info.kubeconfigs.admin,
        "-n",
        WEB.namespace,
        "--method",
        method,
        ...SAFE,
      ]);
      const from = k.output().length;
      let download: Deno.ChildProcess | undefined;
      try {
        download = await traffic(k, scheme);
        await waitFor(
          () => connectionLines(k, from).length >= FAILING.length,
          10_000,
          "the failures' lines",
        );
      } finally {
        assert.equal(await k.stop(), 0);
        try {
          download?.kill("SIGKILL");
        } catch { /* ended */ }
        await download?.status;
      }
      const lines = connectionLines(k, from);
      assert.equal(lines.length, FAILING.length, lines.map((l) => l.line).join("\n"));
      FAILING.forEach((f, i) => {
        assert.equal(lines[i].level, "WRN", lines[i].line);
        assert.match(lines[i].line, WHO, "the program (or, unnamed, its address)");
        assert.match(lines[i].line, f.reason);
      });
      const after = k.output().slice(from);
      assert.doesNotMatch(after, / (WRN|ERR) .*bulk-http/, "Ctrl+C is not a failure");
      assert.doesNotMatch(after, / DBG /, "nothing at DBG without -d");
    },
  );

  Deno.test(
    `connection log, --method ${method} -d: exactly one line per connection; normal ends and Ctrl+C are not failures`,
    opts,
    async () => {
      const k = await startKtctl([
        "-c",
        info.kubeconfigs.admin,
        "-n",
        WEB.namespace,
        "--method",
        method,
        "-d",
        ...SAFE,
      ]);
      const from = k.output().length;
      let download: Deno.ChildProcess | undefined;
      try {
        download = await traffic(k, scheme);
        // The good request's own line: at once for HTTP, when the pod side ends the tunnel for
        // SOCKS (the client has gone; the stream is reset some seconds later).
        await waitFor(
          () =>
            connectionLines(k, from).some((l) =>
              / → (web\.demo:80|GET http:\/\/web\.demo\/) via .* received in /.test(l.line)
            ),
          30_000,
          "the good connection's line",
        );
      } finally {
        assert.equal(await k.stop(), 0);
        try {
          download?.kill("SIGKILL");
        } catch { /* ended */ }
        await download?.status;
      }
      const lines = connectionLines(k, from);
      const text = lines.map((l) => l.line).join("\n");
      // Every connection once: the good one, the failures, the download.
      const ids = lines.map((l) => l.id);
      assert.equal(new Set(ids).size, ids.length, `a connection logged twice:\n${text}`);
      assert.equal(ids.length, 2 + FAILING.length, text);
      // SOCKS names `web.demo:80`, HTTP the request `GET http://web.demo/`.
      const good = lines.find((l) =>
        / → (web\.demo:80|GET http:\/\/web\.demo\/) via /.test(l.line)
      );
      assert.equal(good?.level, "DBG", text);
      assert.match(
        good!.line,
        new RegExp(`${WHO.source}.* via service demo/web:80 .*B sent, .*B received in `),
        text,
      );
      assert.doesNotMatch(good!.line, /fail/i);
      const bulk = lines.find((l) => l.line.includes(BULK_HTTP.service))!;
      assert.equal(bulk?.level, "DBG", text);
      assert.match(bulk.line, /closed as ktctl stopped$/);
      const warned = lines.filter((l) => l.level === "WRN");
      assert.equal(warned.length, FAILING.length, text);
      FAILING.forEach((f, i) => assert.match(warned[i].line, f.reason));
    },
  );
}

Deno.test(
  "connection log -d: each connection refused at accept is one line (WRN for the first of a burst, DBG after)",
  { ...opts, ignore: Deno.build.os !== "linux" || Deno.uid() !== 0 },
  async () => {
    const k = await startKtctl([
      "-c",
      info.kubeconfigs.admin,
      "--method",
      "socks5",
      "-d",
      ...SAFE,
    ]);
    const from = k.output().length;
    const refusedLines = () =>
      k.output().slice(from).split("\n").filter((l) =>
        /refused at accept|Refused a connection/i.test(l)
      );
    try {
      for (let i = 1; i <= 2; i++) {
        const out = await new Deno.Command("runuser", {
          args: [
            "-u",
            "nobody",
            "--",
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-x",
            `socks5h://127.0.0.1:${k.port}`,
            GOOD,
          ],
          stdout: "null",
          stderr: "null",
        }).output();
        assert.notEqual(out.code, 0);
        await waitFor(() => refusedLines().length >= i, 10_000, `refusal ${i}'s line`);
      }
    } finally {
      assert.equal(await k.stop(), 0);
    }
    const lines = refusedLines();
    assert.equal(lines.length, 2, lines.join("\n"));
    assert.match(
      lines[0],
      / WRN Refused a connection from 127\.0\.0\.1:\d+ at accept: its program runs as uid 65534/,
    );
    assert.match(
      lines[1],
      / DBG #\d+ 127\.0\.0\.1:\d+: refused at accept: its program runs as uid 65534/,
    );
  },
);
