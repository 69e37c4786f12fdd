/**
 * `deno task demo [connect flags]`: the main job against the local demo cluster. Brings the
 * cluster up with its fixture (building it the first time), runs `ktctl connect` against it,
 * prints curl commands to try, and on Ctrl+C stops ktctl and takes the cluster down, unless it
 * was already running before the demo (others may be using it: then it is left up).
 * @module
 */
import { ensureCluster, isUp, teardownCluster, WEB } from "../testenv/cluster/mod.ts";
import { KTCTL_V8_ARG } from "./v8_flags.ts";

/** What the demo does with the cluster when ktctl ends: only one it started goes down. */
export function demoEnding(wasUp: boolean): { tearDown: boolean; words: string } {
  return wasUp
    ? { tearDown: false, words: "leaves the cluster up (it was running before the demo)" }
    : { tearDown: true, words: "takes the cluster down" };
}

if (import.meta.main) await demo();

async function demo(): Promise<never> {
  const ending = demoEnding(await isUp());
  const info = await ensureCluster();
  const args = Deno.args;
  const method = args.includes("socks5") || args.includes("--method=socks5") ? "socks5" : "socks";
  const portFlag = args.indexOf("--proxyPort");
  const port = portFlag >= 0 ? args[portFlag + 1] : "2223";
  const proxy = `${method === "socks" ? "socks4a" : "socks5h"}://127.0.0.1:${port}`;
  const ns = WEB.namespace;

  console.log(`
The demo cluster is up (kubeconfig ${info.kubeconfigs.admin}).
Starting ktctl connect; in another terminal, try:

  curl -x ${proxy} http://${WEB.service}.${ns}/                        # a Service by name
  curl -x ${proxy} http://${WEB.service}.${ns}.svc.cluster.local/      # its full DNS name
  curl -x ${proxy} http://${
    WEB.pods[0]
  }.${WEB.headlessService}.${ns}.svc.cluster.local:8080/  # one pod
  curl -x http://127.0.0.1:${port} http://${WEB.service}.${ns}/         # the same port as an HTTP proxy
  curl http://127.0.0.1:${port}/proxy.pac                             # the PAC file for browsers
  kubectl --kubeconfig ${info.kubeconfigs.admin} get svc,pods -A -o wide  # ClusterIPs, pod IPs

Open http://127.0.0.1:${port}/ in a browser for the live view.
Ctrl+C stops ktctl and ${ending.words}.
`);

  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      KTCTL_V8_ARG,
      "main.ts",
      "connect",
      "-c",
      info.kubeconfigs.admin,
      "-n",
      ns,
      ...args,
    ],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl+C reaches ktctl directly (same terminal); the demo only waits for it to finish.
  Deno.addSignalListener("SIGINT", () => {});
  const status = await child.status;
  if (ending.tearDown) {
    console.log("\nTaking the demo cluster down...");
    await teardownCluster();
  } else console.log("\nThe demo cluster stays up (it was running before the demo).");
  Deno.exit(status.code);
}
