/**
 * The reach matrix (issue 10): real clients, configured with exactly what `ktctl connect` prints,
 * against the real local control plane. Targets: a service name (`web.demo`), its ClusterIP, a
 * pod IP, HTTPS through the proxy (the fixture's `tls` service), and a loopback server outside
 * the cluster (for Chromium with the PAC: a name only Chromium knows, which the PAC must send
 * DIRECT, since ktctl could not resolve it). Each mode prints its client × target table.
 *
 * In http mode, and in socks mode (which prints `http://` for http_proxy and https_proxy since
 * issue 20: the port speaks HTTP in every mode), every client must reach every target. In socks5
 * mode only what ktctl promises there is asserted (curl; Deno with socks5h; Go, which takes a
 * proxy URL of a scheme it does not know for an HTTP proxy, and ktctl's listener speaks HTTP in
 * every mode; Java with -DsocksProxyHost; Chromium through the PAC); what other clients do with
 * `socks5h://` is recorded with the name alone, for the README's table: that is the clients'
 * business, and a client that cannot use the proxy may dial the fake cluster IPs directly.
 * The printed matrix marks recorded-only cells with `*`: only unmarked cells are tested.
 *
 * Node reads proxy variables from 24 on; testenv/test-all.sh installs one and sets
 * KTCTL_REACH_NODE_REQUIRED=1, so there a missing Node fails its test. Elsewhere the Node row is
 * its own test, reported as ignored (with the reason printed), never silently left out.
 */
import assert from "node:assert/strict";
import {
  clusterInfo,
  ensureCluster,
  kubectl,
  POD_PORTS,
  TLS,
  tlsCaFile,
  WEB,
} from "../../testenv/cluster/mod.ts";
import { writeAll } from "../../src/net/io.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";
import {
  chromiumClient,
  type Client,
  CURL,
  DENO_FETCH,
  goClient,
  javaClient,
  nodeClient,
  nodeWithEnvProxy,
  type Outcome,
  OUTSIDE_NAME,
  PYTHON_REQUESTS,
  PYTHON_URLLIB,
  ReachTools,
  type Settings,
  WGET,
} from "../helpers/reach_clients.ts";

const opts = {};
await ensureCluster();
const info = await clusterInfo();
const home = await Deno.makeTempDir({ prefix: "ktctl-reach-home-" });
const tools = new ReachTools(await Deno.makeTempDir({ prefix: "ktctl-reach-tools-" }));
const node = await nodeWithEnvProxy();
const nodeRequired = Deno.env.get("KTCTL_REACH_NODE_REQUIRED") === "1";
if ("missing" in node) {
  console.error(
    `reach_test: ${nodeRequired ? "FAILING" : "IGNORED"} the Node row: ${node.missing}` +
      (nodeRequired ? "" : " (set KTCTL_REACH_NODE to a Node >= 24 to run it)"),
  );
}

async function jsonpath(args: string[], path: string): Promise<string> {
  return (await kubectl([...args, "-o", `jsonpath={${path}}`])).stdout.trim();
}

const clusterIp = await jsonpath(
  ["-n", WEB.namespace, "get", "svc", WEB.service],
  ".spec.clusterIP",
);
const pod = WEB.pods[1];
const podIp = await jsonpath(["-n", WEB.namespace, "get", "pod", pod], ".status.podIP");

/**
 * The loopback server outside the cluster: answers any request with its token and closes. Plain
 * TCP, since Deno.serve answers 400 to the h2c upgrade Java's HttpClient offers on http:// URLs.
 */
const outsideToken = `outside-${crypto.randomUUID()}`;
const outside = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const outsidePort = outside.addr.port;
(async () => {
  const answer = new TextEncoder().encode(
    `HTTP/1.1 200 OK\r\nContent-Length: ${outsideToken.length + 1}\r\nConnection: close\r\n\r\n` +
      `${outsideToken}\n`,
  );
  for await (const conn of outside) {
    (async () => {
      const buf = new Uint8Array(16 * 1024);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) break;
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      await writeAll(conn, answer);
    })().catch(() => {}).finally(() => conn.close());
  }
})().catch(() => {});
outside.unref();
globalThis.addEventListener("unload", () => {
  for (const dir of [home, tools.dir]) Deno.removeSync(dir, { recursive: true });
});

interface Target {
  label: string;
  /** The URL, or per client kind (Chromium with the PAC gets the name only it can resolve). */
  url: (client: Client) => string;
  expect: RegExp;
}

const web = new RegExp(`^pod=${WEB.namespace}/web-\\d\\n`);
const TARGETS = {
  name: {
    label: `http://${WEB.service}.${WEB.namespace}/`,
    url: () => `http://${WEB.service}.${WEB.namespace}/`,
    expect: web,
  },
  clusterIp: { label: "ClusterIP", url: () => `http://${clusterIp}/`, expect: web },
  podIp: {
    label: "pod IP",
    url: () => `http://${podIp}:${POD_PORTS.http}/`,
    expect: new RegExp(`^pod=${WEB.namespace}/${pod}\\n`),
  },
  https: {
    label: `https://${TLS.service}.${TLS.namespace}/`,
    url: () => `https://${TLS.service}.${TLS.namespace}/`,
    expect: new RegExp(`^pod=${TLS.namespace}/${TLS.pod}\\n`),
  },
  outside: {
    label: "outside (loopback)",
    url: (c: Client) =>
      `http://${c.name === "chromium PAC" ? OUTSIDE_NAME : "127.0.0.1"}:${outsidePort}/`,
    expect: new RegExp(`^${outsideToken}`),
  },
} satisfies Record<string, Target>;
type TargetId = keyof typeof TARGETS;
const ALL: TargetId[] = ["name", "clusterIp", "podIp", "https", "outside"];
const HTTP_ONLY: TargetId[] = ["name", "clusterIp", "podIp"];

/** One row of the matrix: a client, the targets it is tried on, and which must work. */
interface Row {
  client: Client;
  targets: TargetId[];
  /** The targets that must be reached; the rest are recorded only. */
  must: TargetId[];
}

function settingsFrom(output: string, proxyUrl: string, port: number): Settings {
  const vars: Record<string, string> = { http_proxy: proxyUrl };
  const https = /https_proxy=([^\s"]+)/.exec(output)?.[1];
  if (https) vars.https_proxy = https;
  const java = /Java: (-D.*?)\s*$/m.exec(output)?.[1];
  const pac = /(?:proxy auto-config URL|PAC URL) (http:\/\/\S+\.pac)/.exec(output)?.[1];
  assert.ok(pac, `no PAC URL in the banner:\n${output}`);
  return {
    vars,
    javaFlags: java ? java.split(/\s+/) : [],
    pacUrl: pac,
    host: "127.0.0.1",
    port,
    caFile: tlsCaFile(),
  };
}

const cell = (o: Outcome | undefined, expect: RegExp) =>
  o === undefined ? "-" : expect.test(o.text) && o.status === 200 ? "ok" : "fail";

/** What one client got, and which of its targets were asserted (the rest only recorded). */
interface RowResult {
  got: Map<TargetId, Outcome>;
  must: TargetId[];
}

function printMatrix(title: string, results: Map<string, RowResult>): void {
  const header = ["client", ...ALL.map((t) => TARGETS[t].label)];
  const rows = [...results].map(([client, { got, must }]) => [
    client,
    ...ALL.map((t) => {
      const c = cell(got.get(t), TARGETS[t].expect);
      return c === "-" || must.includes(t) ? c : `${c}*`;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  // Why each failure failed, in the client's words, for the record.
  const why = [...results].flatMap(([client, { got }]) =>
    [...got].filter(([t, o]) => cell(o, TARGETS[t].expect) === "fail").map(([t, o]) =>
      `  ${client} → ${TARGETS[t].label}: ${o.status || "error"} ${
        o.text.replaceAll("\n", " ").slice(0, 140)
      }`
    )
  );
  console.log(
    [
      `\nreach matrix, ${title}:`,
      line(header),
      line(widths.map((w) => "-".repeat(w))),
      ...rows.map(line),
      "* recorded only, not asserted (README: not marked tested)",
      ...(why.length ? ["failures:", ...why] : []),
    ].join("\n"),
  );
}

async function matrix(t: Deno.TestContext, title: string, method: string, rows: Row[]) {
  const ktctl = await startKtctl(
    [
      "-c",
      info.kubeconfigs.admin,
      "-n",
      WEB.namespace,
      "--dialDirect",
      "127.0.0.0/8,::1/128",
      "--method",
      method,
    ],
    { env: { HOME: home, USERPROFILE: home } },
  );
  const results = new Map<string, RowResult>();
  try {
    const s = settingsFrom(ktctl.output(), ktctl.proxyUrl, ktctl.port);
    for (const { client, targets, must } of rows) {
      await t.step(client.name, async (t) => {
        const outcomes = await client.run(targets.map((id) => TARGETS[id].url(client)), s);
        const got = new Map(targets.map((id, i) => [id, outcomes[i]]));
        results.set(client.name, { got, must });
        for (const id of must) {
          await t.step(TARGETS[id].label, () => {
            const o = got.get(id)!;
            assert.equal(o.status, 200, `${client.name} → ${TARGETS[id].url(client)}: ${o.text}`);
            assert.match(o.text, TARGETS[id].expect, `${client.name} → ${TARGETS[id].url(client)}`);
          });
        }
      });
    }
  } finally {
    printMatrix(title, results);
    assert.equal(await ktctl.stop(), 0);
  }
}

/** Every target must be reached by every row (http mode). */
const everywhere = (client: Client): Row => ({ client, targets: ALL, must: ALL });

for (const method of ["http", "socks"] as const) {
  Deno.test(
    `reach matrix: --method ${method}, with exactly the printed values`,
    opts,
    async (t) => {
      const rows: Row[] = [
        everywhere(CURL),
        everywhere(WGET),
        everywhere(PYTHON_URLLIB),
        everywhere(PYTHON_REQUESTS),
        everywhere(goClient(tools)),
        everywhere(DENO_FETCH),
        everywhere(javaClient(tools, "urlconnection")),
        everywhere(javaClient(tools, "httpclient")),
        everywhere(chromiumClient("proxy-server")),
        everywhere(chromiumClient("pac")),
      ];
      await matrix(t, `--method ${method}`, method, rows);
    },
  );

  Deno.test({
    name: `reach matrix: --method ${method}, Node >= 24 fetch with NODE_USE_ENV_PROXY=1`,
    ...opts,
    ignore: "missing" in node && !nodeRequired,
    async fn(t) {
      if ("missing" in node) throw new Error(`KTCTL_REACH_NODE_REQUIRED=1, but ${node.missing}`);
      await matrix(t, `--method ${method} (Node)`, method, [everywhere(nodeClient(node.path))]);
    },
  });
}

for (const [method, scheme] of [["socks5", "socks5h"]] as const) {
  Deno.test(`reach matrix: --method ${method} (${scheme}://), for the record`, opts, async (t) => {
    // Only for the record: the name alone. A client that cannot use the proxy URL may connect
    // directly instead (Deno ignores socks4a://), and fake cluster IPs are never to be dialled.
    const recorded = (client: Client): Row => ({ client, targets: ["name"], must: [] });
    const reaches = (client: Client): Row => ({ client, targets: HTTP_ONLY, must: HTTP_ONLY });
    // Go treats a scheme it does not know as an HTTP proxy, which ktctl's listener also is.
    const socks5h = (client: Client) => method === "socks5" ? reaches(client) : recorded(client);
    await matrix(t, `--method ${method} (${scheme}://)`, method, [
      reaches(CURL),
      recorded(WGET),
      recorded(PYTHON_URLLIB),
      recorded(PYTHON_REQUESTS),
      reaches(goClient(tools)),
      socks5h(DENO_FETCH),
      reaches(javaClient(tools, "urlconnection")),
      ...("path" in node ? [recorded(nodeClient(node.path))] : []),
      // The PAC answers `SOCKS5 …; SOCKS …` in socks modes: names work, and HTTPS too.
      { client: chromiumClient("pac"), targets: ALL, must: ALL },
    ]);
  });
}
