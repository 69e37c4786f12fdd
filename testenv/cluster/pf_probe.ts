/**
 * Whether a pod port answers through a real `kubectl port-forward`. kwok starts serving a pod's
 * port-forwards some seconds after the pod is Ready and its PortForward object exists (2.5-6 s
 * measured on a fresh cluster, per node), so "fixture ready" waits for this too: a test that
 * starts at once must not meet refusals the fixture does not mean.
 * @module
 */
import type { Backend } from "./fixture.ts";
import { spawnPortForward } from "../../bench/sides.ts";

/** What each kind of backend needs to say something back. */
const PROBES: Record<Backend["kind"], string> = {
  http: "GET / HTTP/1.0\r\nHost: probe\r\n\r\n",
  echo: "",
  bulk: "GET 1\n",
  "bulk-http": "GET /1 HTTP/1.1\r\nHost: probe\r\n\r\n",
  // Not TLS: the server answers with an alert and closes, which proves the forward works.
  https: "GET / HTTP/1.0\r\n\r\n",
};

/** One attempt: forward, connect, send the probe, read a byte. Bounded by `timeoutMs`. */
export async function portForwardAnswers(
  kubectl: string,
  kubeconfig: string,
  b: Backend,
  timeoutMs = 5_000,
): Promise<boolean> {
  const proc = spawnPortForward({
    kubectl,
    kubeconfig,
    namespace: b.namespace,
    pod: b.pod,
    podPort: b.podPort,
    localPort: 0,
  });
  // Stopping kubectl also ends a read that waits for an answer that does not come.
  const timer = setTimeout(() => proc.stop(), timeoutMs);
  let conn: Deno.Conn | undefined;
  try {
    const m = await proc.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) ->/, timeoutMs);
    conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(m[1]) });
    const probe = PROBES[b.kind];
    if (probe) await conn.write(new TextEncoder().encode(probe));
    const n = await conn.read(new Uint8Array(64));
    return n !== null && n > 0;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed */ }
    await proc.stop();
  }
}
