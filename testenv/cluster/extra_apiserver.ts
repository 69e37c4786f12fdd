/**
 * A second kube-apiserver on another loopback port, against the shared cluster's etcd, with extra
 * flags (e.g. a webhook token authenticator): for tests that need API-server settings the shared
 * one does not have, without restarting it for everyone. It runs the shared server's own command
 * line (read from /proc), so it serves the same objects, certificates and kwok kubelet; only the
 * port and the added flags differ. Stopped with the test; never touches the shared processes.
 * @module
 */
import { CLUSTER_NAME } from "./fixture.ts";
import { clusterCacheDir, runDir } from "./paths.ts";
import { kubectlBinary } from "./cluster.ts";

export interface ExtraApiServer {
  /** https://127.0.0.1:<port> */
  server: string;
  port: number;
  /** The CA that signed its serving certificate (the shared cluster's). */
  caFile: string;
  /** Stops it and starts it again (every connection to it breaks); resolves once ready. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** What it printed (the last 64 KiB). */
  log(): string;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/** The shared kube-apiserver's argv and working directory. */
async function sharedCommandLine(): Promise<{ argv: string[]; cwd: string }> {
  const dir = `${runDir()}/kwok/clusters/${CLUSTER_NAME}`;
  const pid = Number((await Deno.readTextFile(`${dir}/pids/kube-apiserver.pid`)).trim());
  const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0").filter(Boolean);
  if (!argv[0]?.startsWith(clusterCacheDir())) {
    throw new Error(`pid ${pid} does not look like the shared kube-apiserver: ${argv[0]}`);
  }
  return { argv, cwd: await Deno.realPath(`/proc/${pid}/cwd`) };
}

/** Its argv with another port and `extraArgs` (which replace flags of the same name). */
export function extraArgv(shared: string[], port: number, extraArgs: string[]): string[] {
  const name = (a: string) => a.replace(/^--/, "").split("=")[0];
  const replaced = new Set(["secure-port", ...extraArgs.map(name)]);
  const out = [shared[0]];
  for (let i = 1; i < shared.length; i++) {
    const a = shared[i];
    if (!a.startsWith("--") || !replaced.has(name(a))) {
      out.push(a);
      continue;
    }
    // "--flag value" spelled as two words: drop the value too.
    if (!a.includes("=") && shared[i + 1] && !shared[i + 1].startsWith("--")) i++;
  }
  return [...out, `--secure-port=${port}`, ...extraArgs];
}

/** /readyz through the admin kubeconfig's client certificate, pointed at this server. */
async function ready(server: string): Promise<boolean> {
  const out = await new Deno.Command(kubectlBinary(), {
    args: [
      "--kubeconfig",
      `${runDir()}/admin.kubeconfig`,
      "--server",
      server,
      "--request-timeout=3s",
      "get",
      "--raw",
      "/readyz",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.success && new TextDecoder().decode(out.stdout).trim() === "ok";
}

export async function startExtraApiServer(
  opts: { extraArgs: string[]; timeoutMs?: number },
): Promise<ExtraApiServer> {
  const shared = await sharedCommandLine();
  const port = freePort();
  const server = `https://127.0.0.1:${port}`;
  const argv = extraArgv(shared.argv, port, opts.extraArgs);
  const caFile = `${runDir()}/ca.crt`;
  let text = "";
  let child: Deno.ChildProcess | undefined;

  const start = async () => {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: shared.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (s: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of s) {
        text += dec.decode(chunk, { stream: true });
        if (text.length > 128 * 1024) text = text.slice(-64 * 1024);
      }
    };
    pump(child.stdout).catch(() => {});
    pump(child.stderr).catch(() => {});
    const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
    const exited = child.status.then(() => true);
    while (!(await ready(server))) {
      if (await Promise.race([exited, new Promise((r) => setTimeout(() => r(false), 250))])) {
        throw new Error(`extra kube-apiserver exited:\n${text.slice(-3000)}`);
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`extra kube-apiserver not ready in time:\n${text.slice(-3000)}`);
      }
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c) return;
    try {
      c.kill("SIGTERM");
    } catch { /* gone */ }
    const killer = setTimeout(() => {
      try {
        c.kill("SIGKILL");
      } catch { /* gone */ }
    }, 10_000);
    await c.status;
    clearTimeout(killer);
  };
  await start();
  return {
    server,
    port,
    caFile,
    restart: async () => {
      await stop();
      await start();
    },
    stop,
    log: () => text,
  };
}
