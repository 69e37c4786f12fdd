/**
 * Issue 18: Chromium with ktctl's PAC file, on a machine whose previous settings had a company
 * PAC file (served by this test: a real squid on loopback for the "outside" site, DIRECT for the
 * rest). ktctl runs in this process against the local control plane, with the previous Windows
 * settings given through the recording fakes (an `AutoConfigURL`); its `/proxy.pac` is what
 * Chromium evaluates.
 *
 * Chromium runs inside a network namespace with only loopback (`unshare -n`), so nothing it does
 * can leave the machine: ktctl's and squid's ports are bridged in through Unix sockets
 * (fixtures/netns_bridge.ts), and the refused cluster address 10.96.250.250 is put on the
 * namespace's loopback with a listener that records any connection: a browser that dials it
 * itself, instead of failing, is caught there.
 */
import assert from "node:assert/strict";
import { ensureCluster, WEB } from "../../testenv/cluster/mod.ts";
import { freePort } from "../../testenv/ktctl_process.ts";
import { startSquid } from "../../testenv/squid.ts";
import { type ConnectSession, startConnect } from "../../src/cli/connect.ts";
import { parseDirectPolicy } from "../../src/cli/connect_options.ts";
import { INET, World } from "../unit/sysproxy/fakes.ts";

const info = await ensureCluster();
const REFUSED = "10.96.250.250";
const BRIDGE = new URL("./fixtures/netns_bridge.ts", import.meta.url).pathname;

/** ktctl connect in this process, with "previous Windows settings" that point at `pacUrl`. */
function connect(method: "http" | "socks", pacUrl: string): Promise<ConnectSession> {
  const world = new World([[INET, "AutoConfigURL", { type: "REG_SZ", data: pacUrl }]]);
  return startConnect(
    {
      method,
      address: "127.0.0.1",
      port: freePort(),
      setupGlobalProxy: false,
      clusterDomain: "cluster.local",
      direct: parseDirectPolicy("127.0.0.0/8,::1/128"),
      clusterRanges: [],
      portForward: "multiplexed",
      allowOtherUsers: true,
      kubeconfig: info.kubeconfigs.admin,
      namespace: WEB.namespace,
    },
    world.process(Deno.pid),
  );
}

/** Bridges `DIR/PORT.sock` (reached from inside the namespace) to 127.0.0.1:PORT here. */
function bridgeOut(dir: string, port: number): Deno.UnixListener {
  const listener = Deno.listen({ transport: "unix", path: `${dir}/${port}.sock` });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        try {
          const out = await Deno.connect({ hostname: "127.0.0.1", port });
          await Promise.allSettled([
            conn.readable.pipeTo(out.writable),
            out.readable.pipeTo(conn.writable),
          ]);
        } catch {
          conn.close();
        }
      })();
    }
  })().catch(() => {});
  return listener;
}

/**
 * Loads each URL in Chromium (inside a loopback-only namespace) with `--proxy-pac-url`; returns
 * each page's DOM, and what the trap on the refused address saw.
 */
async function inNamespace(
  pacUrl: string,
  ports: number[],
  urls: string[],
): Promise<{ doms: string[]; trapped: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-netns-" });
  const listeners = ports.map((port) => bridgeOut(dir, port));
  try {
    const chromium = (i: number, url: string) =>
      `timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run ` +
      `--disable-background-networking --disable-component-update --disable-sync ` +
      `--user-data-dir=${dir}/profile-${i} --proxy-pac-url=${pacUrl} --timeout=15000 ` +
      `--dump-dom '${url}' > ${dir}/dom-${i}.html 2>${dir}/chromium-${i}.log`;
    const script = [
      "set -e",
      "ip link set lo up",
      `ip addr add ${REFUSED}/32 dev lo`,
      `${Deno.execPath()} run -A --no-config ${BRIDGE} ${dir} --trap ${REFUSED}:80 ${
        ports.join(" ")
      } &`,
      `for i in $(seq 1 200); do [ -f ${dir}/ready ] && break; sleep 0.05; done`,
      `[ -f ${dir}/ready ]`,
      "set +e",
      ...urls.map((url, i) => chromium(i, url)),
      "kill %1",
    ].join("\n");
    const r = await new Deno.Command("unshare", {
      args: ["-n", "bash", "-c", script],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(240_000),
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const read = (path: string) => Deno.readTextFile(path).catch(() => "");
    return {
      doms: await Promise.all(urls.map((_, i) => read(`${dir}/dom-${i}.html`))),
      trapped: await read(`${dir}/trap.log`),
    };
  } finally {
    for (const l of listeners) l.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test(
  "Chromium with ktctl's PAC: cluster names through ktctl, the outside site through squid as the previous PAC said, a refused cluster IP never dialled",
  { sanitizeOps: false, sanitizeResources: false }, // ktctl's session runs in this process
  async () => {
    await using squid = await startSquid({ hosts: { "outside.test": "127.0.0.2" } });
    const site = Deno.serve(
      { hostname: "127.0.0.2", port: 0, onListen: () => {} },
      () =>
        new Response("<html><body>outside-site</body></html>", {
          headers: { "content-type": "text/html" },
        }),
    );
    // A name, not 127.0.0.2: Chromium never sends loopback addresses to a proxy.
    const outside = `http://outside.test:${site.addr.port}/page`;
    const company = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () =>
        new Response(
          `function FindProxyForURL(url, host) {
             if (host == "outside.test") return "PROXY 127.0.0.1:${squid.port}";
             return "DIRECT";
           }`,
          { headers: { "content-type": "application/x-ns-proxy-autoconfig" } },
        ),
    );
    const companyPac = `http://127.0.0.1:${company.addr.port}/company.pac`;
    try {
      for (const method of ["http", "socks"] as const) {
        const session = await connect(method, companyPac);
        try {
          const port = session.server.addr.port;
          const pac = await (await fetch(`http://127.0.0.1:${port}/proxy.pac`)).text();
          assert.match(pac, /outside\.test/, "the previous PAC is in ktctl's");
          const before = (await squid.accessLog()).split("\n").length;
          const { doms, trapped } = await inNamespace(
            `http://127.0.0.1:${port}/proxy.pac`,
            [port, squid.port],
            [`http://${WEB.service}.${WEB.namespace}/`, outside, `http://${REFUSED}/`],
          );
          assert.match(doms[0], new RegExp(`pod=${WEB.namespace}/web-\\d`), `${method}: web.demo`);
          assert.match(doms[1], /outside-site/, `${method}: the outside site`);
          const log = await squid.waitForLog(new RegExp(`GET ${outside.replace(/\./g, "\\.")}`));
          assert.ok(log.split("\n").length > before, "squid served the outside site");
          assert.doesNotMatch(doms[2], /outside-site|pod=/, `${method}: the refused IP`);
          assert.equal(trapped, "", `${method}: Chromium dialled ${REFUSED} itself`);
        } finally {
          await session.stop();
        }
      }
    } finally {
      await site.shutdown();
      await company.shutdown();
    }
  },
);
