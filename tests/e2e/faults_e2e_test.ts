/**
 * Faults on the path between ktctl and the real API server, injected by a loopback relay
 * (tests/helpers/fault_relay.ts) that the kubeconfig points at: a path that goes silent (no
 * error, as when a laptop sleeps or a NAT forgets), connections dropped or reset, and delay.
 * New connections must get through on a fresh session at once; the silent session must be
 * noticed and ended within about 30 s.
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, POD_PORTS, WEB } from "../../testenv/cluster/mod.ts";
import type { KtctlProcess } from "../../testenv/ktctl_process.ts";
import { deriveKubeconfig, startSocks5 } from "../helpers/e2e_kubeconfig.ts";
import { curlWithEnv, readExactly, socks5Connect } from "../../testenv/socks_client.ts";
import { FaultRelay } from "../helpers/fault_relay.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = {};
await ensureCluster();
const info = await clusterInfo();

async function throughRelay(): Promise<{ relay: FaultRelay; ktctl: KtctlProcess; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-e2e-faults-" });
  const server = new URL(info.server);
  const relay = new FaultRelay({ hostname: server.hostname, port: Number(server.port) });
  const kubeconfig = await deriveKubeconfig(info.kubeconfigs.admin, `${dir}/kubeconfig`, (c) => {
    c.server = `https://127.0.0.1:${relay.port}`;
  });
  const ktctl = await startSocks5(kubeconfig, dir);
  return { relay, ktctl, dir };
}

const pod = WEB.pods[0];
const podHost = `${pod}.${WEB.headlessService}.${WEB.namespace}.svc.cluster.local`;
const url = `http://${podHost}:${POD_PORTS.http}/`;

Deno.test(
  "a silent path: new connections get a fresh session, the dead one ends within 30 s",
  opts,
  async () => {
    const { relay, ktctl, dir } = await throughRelay();
    try {
      // A long-lived connection and a request, both on the pod's one session.
      const { conn: held, reply } = await socks5Connect(ktctl.port, podHost, POD_PORTS.echo);
      assert.equal(reply, 0);
      await readExactly(held, `pod=${WEB.namespace}/${pod}\n`.length);
      assert.equal((await curlWithEnv(ktctl.proxyUrl, url)).code, 0);

      relay.pause(); // every connection open now goes silent: no error, no bytes
      const pausedAt = Date.now();
      await waitFor(() => Date.now() - relay.lastForwardAt > 1500, 5000, "a quiet path");

      // The next connection must not be sent into the dead session.
      const started = Date.now();
      const r = await curlWithEnv(ktctl.proxyUrl, url);
      assert.equal(r.code, 0, `${r.stderr}\n${ktctl.output()}`);
      assert.match(r.body, new RegExp(`^pod=${WEB.namespace}/${pod}\\n`));
      console.log(`first connection after the pause: ${Date.now() - started} ms`);

      // The silent session is noticed (its ping goes unanswered) and ended: the held client's
      // connection closes.
      let endedAt: number | undefined;
      held.read(new Uint8Array(16)).catch(() => null).then(() => endedAt = Date.now());
      await waitFor(() => endedAt !== undefined, 40_000, "the held connection's end", 250);
      const detected = endedAt! - pausedAt;
      console.log(`silent session ended ${detected} ms after the pause`);
      assert.ok(detected <= 35_000, `${detected} ms`);
      held.close();
    } finally {
      relay.resume();
      await ktctl.stop();
      await relay.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "dropped and reset connections, and added delay, do not fail new connections",
  opts,
  async () => {
    const { relay, ktctl, dir } = await throughRelay();
    try {
      assert.equal((await curlWithEnv(ktctl.proxyUrl, url)).code, 0);
      for (const fault of ["drop", "reset"] as const) {
        relay[fault]();
        const r = await curlWithEnv(ktctl.proxyUrl, url);
        assert.equal(r.code, 0, `after ${fault}: ${r.stderr}\n${ktctl.output()}`);
      }
      relay.delayMs = 100;
      const r = await curlWithEnv(ktctl.proxyUrl, url);
      assert.equal(r.code, 0, `with delay: ${r.stderr}`);
      relay.delayMs = 0;
    } finally {
      await ktctl.stop();
      await relay.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
