/**
 * The smoke test of what ships, against the real control plane: the bundle that
 * `deno task build` compiles (scripts/bundle.ts), run as the executables run it
 * (SHIPPED_RUN_FLAGS: no deno.json, ktctl's V8 flags). Where a denort is at hand the compiled
 * executable itself is tested too (tests/integration/build_test.ts); the bundle runs everywhere.
 * curl reaches a service by name and a pod by IP in socks5 and http mode, over both port-forward
 * transports, and Ctrl+C ends it with 0.
 */
import assert from "node:assert/strict";
import { bundleKtctl } from "../../scripts/bundle.ts";
import { clusterInfo, ensureCluster, kubectl, POD_PORTS, WEB } from "../../testenv/cluster/mod.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";
import { curlWithEnv } from "../../testenv/socks_client.ts";

const opts = {};
await ensureCluster();
const info = await clusterInfo();
const home = await Deno.makeTempDir({ prefix: "ktctl-e2e-shipped-" });
const bundle = `${home}/ktctl.js`;
await bundleKtctl(bundle);
globalThis.addEventListener("unload", () => Deno.removeSync(home, { recursive: true }));

const pod = WEB.pods[0];
const podIp =
  (await kubectl(["-n", WEB.namespace, "get", "pod", pod, "-o", "jsonpath={.status.podIP}"]))
    .stdout.trim();

for (
  const [method, transport] of [
    ["socks5", "multiplexed"],
    ["http", "multiplexed"],
    ["socks5", "websocket"],
  ] as const
) {
  Deno.test(
    `the shipped bundle (${method}, ${transport}): names and pod IPs, then Ctrl+C`,
    opts,
    async () => {
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
          ...(transport === "websocket" ? ["--portForward", "websocket"] : []),
        ],
        { entry: bundle, asShipped: true, env: { HOME: home, USERPROFILE: home } },
      );
      let stopped = false;
      try {
        assert.equal(
          ktctl.proxyUrl,
          `${method === "http" ? "http" : "socks5h"}://127.0.0.1:${ktctl.port}`,
        );
        const byName = await curlWithEnv(ktctl.proxyUrl, `http://${WEB.service}.${WEB.namespace}/`);
        assert.equal(byName.code, 0, `${byName.stderr}\n${ktctl.output()}`);
        assert.match(byName.body, new RegExp(`^pod=${WEB.namespace}/web-\\d\\n`));
        const byIp = await curlWithEnv(ktctl.proxyUrl, `http://${podIp}:${POD_PORTS.http}/`);
        assert.match(byIp.body, new RegExp(`^pod=${WEB.namespace}/${pod}\\n`), byIp.stderr);
        stopped = true;
        assert.equal(await ktctl.stop("SIGINT"), 0, ktctl.output());
        assert.match(ktctl.output(), /INF Stopped/);
      } finally {
        if (!stopped) await ktctl.stop("SIGKILL");
      }
    },
  );
}
