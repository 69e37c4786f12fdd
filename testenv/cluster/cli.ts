/**
 * Local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager built from Go
 * modules, kwok as the kubelet) with the ktctl test fixture.
 *
 *   deno task cluster up       build if needed, start, apply the fixture, print kubeconfigs
 *   deno task cluster down     stop everything (no-op when down)
 *   deno task cluster status   what runs (exit 0 when up, 1 otherwise)
 *   deno task cluster build    only build the binaries (--force to rebuild)
 *   deno task cluster restart-apiserver
 *   deno task cluster restart-kwok   (every port-forward session through kwok dies)
 *   deno task cluster env      print KUBECONFIG=... for `eval`
 */
import { build, isBuilt } from "./build.ts";
import { down, printHint, readInfo, restartApiServer, restartKwok, status, up } from "./cluster.ts";
import { binDir, runDir } from "./paths.ts";
import { VERSION_KEY } from "./versions.ts";

const [cmd, ...rest] = Deno.args;
const t = Date.now();
const elapsed = () => `${((Date.now() - t) / 1000).toFixed(1)}s`;

switch (cmd) {
  case "up": {
    await up();
    console.error(`[cluster] up: ${elapsed()}`);
    break;
  }
  case "down": {
    await down();
    console.error(`[cluster] down: ${elapsed()}`);
    break;
  }
  case "status": {
    const st = await status();
    const info = await readInfo();
    console.log(`versions:   ${VERSION_KEY}`);
    console.log(`binaries:   ${st.built ? "built" : "not built"} (${binDir()})`);
    for (const [c, pid] of Object.entries(st.components)) {
      console.log(`${(c + ":").padEnd(25)} ${pid ? `running (pid ${pid})` : "stopped"}`);
    }
    console.log(
      `${"backends:".padEnd(25)} ${st.backends ? `running (pid ${st.backends})` : "stopped"}`,
    );
    console.log(`${"api server /readyz:".padEnd(25)} ${st.apiServerReady ? "ok" : "not ready"}`);
    console.log(`state:      ${st.up ? "UP" : "DOWN"}  (run dir ${runDir()})`);
    if (st.up && info) printHint(info);
    Deno.exit(st.up ? 0 : 1);
    break;
  }
  case "build": {
    await build({ force: rest.includes("--force") });
    console.error(`[cluster] build: ${elapsed()} (${(await isBuilt()) ? "ok" : "incomplete"})`);
    break;
  }
  case "restart-apiserver": {
    await restartApiServer();
    break;
  }
  case "restart-kwok": {
    await restartKwok();
    break;
  }
  case "env": {
    const info = await readInfo();
    if (!info) {
      console.error("cluster is not up");
      Deno.exit(1);
    }
    console.log(`export KUBECONFIG=${info.kubeconfigs.admin}`);
    break;
  }
  default:
    console.error(
      "usage: deno task cluster <up|down|status|build [--force]|restart-apiserver|restart-kwok|env>",
    );
    Deno.exit(2);
}
