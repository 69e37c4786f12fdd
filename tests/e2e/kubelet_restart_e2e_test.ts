/**
 * The kubelet side gone (issue 13.4): kwok-controller, the kubelet of every fake node, is stopped
 * and started again, so every port-forward session through it dies, idle ones included, as when
 * a node's kubelet restarts. Connections open at that moment end (none hangs); once the kubelet
 * serves again, the first new connection to each pod gets through, whether its old session had
 * streams, sat idle, or is reached through a Service.
 */
import assert from "node:assert/strict";
import {
  clusterInfo,
  ensureCluster,
  POD_PORTS,
  restartKwok,
  WEB,
} from "../../testenv/cluster/mod.ts";
import { startSocks5 } from "../helpers/e2e_kubeconfig.ts";
import { curlWithEnv, readExactly, socks5Connect } from "../../testenv/socks_client.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = {};
await ensureCluster();
const info = await clusterInfo();

const podHost = (pod: string) => `${pod}.${WEB.headlessService}.${WEB.namespace}.svc.cluster.local`;
const greeting = (pod: string) => `pod=${WEB.namespace}/${pod}\n`;
const [busyPod, idlePod] = WEB.pods;

Deno.test(
  "a restarted kubelet: open connections end, the first new ones after it get through",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ktctl-e2e-kubelet-" });
    const ktctl = await startSocks5(info.kubeconfigs.admin, dir);
    let made = 0;
    const expectServed = async (url: string, body: RegExp, when: string) => {
      const r = await curlWithEnv(ktctl.proxyUrl, url);
      made++;
      assert.equal(r.code, 0, `${when}, ${url}: ${r.stderr}\n${ktctl.output()}`);
      assert.match(r.body, body, `${when}, ${url}`);
    };
    try {
      for (const signal of ["SIGTERM", "SIGKILL"] as const) {
        // The busy pod's session carries a held connection; the idle pod's has no streams left.
        const { conn: held, reply } = await socks5Connect(
          ktctl.port,
          podHost(busyPod),
          POD_PORTS.echo,
        );
        assert.equal(reply, 0);
        assert.equal(
          new TextDecoder().decode(await readExactly(held, greeting(busyPod).length)),
          greeting(busyPod),
        );
        const idleUrl = `http://${podHost(idlePod)}:${POD_PORTS.http}/`;
        await expectServed(idleUrl, new RegExp(`^${greeting(idlePod)}`), `before (${signal})`);

        let heldEnded = false;
        held.read(new Uint8Array(64)).catch(() => null).then(() => heldEnded = true);
        const t0 = Date.now();
        await restartKwok({ signal });
        console.log(`kwok restarted with ${signal}: serving again after ${Date.now() - t0} ms`);
        // Its session died with the kubelet: the held client is told, not left hanging.
        await waitFor(() => heldEnded, 45_000, "the held connection's end", 100);
        held.close();

        // No retry loop: the first connection to each must succeed.
        await expectServed(
          `http://${podHost(busyPod)}:${POD_PORTS.http}/`,
          new RegExp(`^${greeting(busyPod)}`),
          `after ${signal}, the pod whose session had streams`,
        );
        await expectServed(
          idleUrl,
          new RegExp(`^${greeting(idlePod)}`),
          `after ${signal}, the pod whose session was idle`,
        );
        await expectServed(
          `http://${WEB.service}.${WEB.namespace}.svc.cluster.local:${WEB.httpServicePort}/`,
          /^pod=demo\/web-\d\n/,
          `after ${signal}, a Service`,
        );
        // Raw bytes both ways on a fresh stream, not only an HTTP answer.
        const { conn: echo, reply: echoReply } = await socks5Connect(
          ktctl.port,
          podHost(busyPod),
          POD_PORTS.echo,
        );
        made++;
        assert.equal(echoReply, 0);
        await readExactly(echo, greeting(busyPod).length);
        await echo.write(new TextEncoder().encode("ping\n"));
        assert.equal(new TextDecoder().decode(await readExactly(echo, 5)), "ping\n");
        echo.close();
      }
      console.log(`${made} connections after and between two kubelet restarts, none failed`);
    } finally {
      await ktctl.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
