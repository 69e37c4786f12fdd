/**
 * Whether a pod port answers through a real `kubectl port-forward`. kwok starts serving a pod's
 * port-forwards some seconds after the pod is Ready and its PortForward object exists (2.5-6 s
 * measured on a fresh cluster, per node), so "fixture ready" waits for this too: a test that
 * starts at once must not meet refusals the fixture does not mean.
 * @module
 */
import type { Backend } from "./fixture.ts";

/** What each kind of backend needs to say something back. */
const PROBES: Record<Backend["kind"], string> = {
  http: "GET / HTTP/1.0\r\nHost: probe\r\n\r\n",
  echo: "",
  bulk: "GET 1\n",
};

/** One attempt: forward, connect, send the probe, read a byte. Bounded by `timeoutMs`. */
export async function portForwardAnswers(
  kubectl: string,
  kubeconfig: string,
  b: Backend,
  timeoutMs = 5_000,
): Promise<boolean> {
  const child = new Deno.Command(kubectl, {
    args: [
      "--kubeconfig",
      kubeconfig,
      "-n",
      b.namespace,
      "port-forward",
      "--address",
      "127.0.0.1",
      `pod/${b.pod}`,
      `:${b.podPort}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let conn: Deno.Conn | undefined;
  try {
    const port = await forwardedPort(child.stdout);
    if (port === undefined) return false;
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
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
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
  }
}

/** The local port from kubectl's "Forwarding from 127.0.0.1:N -> P" line; undefined at EOF. */
async function forwardedPort(out: ReadableStream<Uint8Array>): Promise<number | undefined> {
  // One reader throughout: leaving a for-await early would cancel the stream, and kubectl dies
  // of SIGPIPE at its next line ("Handling connection for N").
  const reader = out.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (true) {
    const { done, value } = await reader.read();
    if (done) return undefined;
    text += decoder.decode(value, { stream: true });
    const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(text);
    if (m) {
      (async () => {
        while (!(await reader.read()).done) { /* drain, so kubectl never blocks */ }
      })().catch(() => {});
      return Number(m[1]);
    }
  }
}
