/**
 * For end-to-end tests on the local control plane: kubeconfigs derived from the fixture's, and
 * ktctl started on one the way the tests start it (SOCKS5, direct dials to loopback only).
 * @module
 */
import { kubectl, WEB } from "../../testenv/cluster/mod.ts";
import { type KtctlProcess, startKtctl } from "../../testenv/ktctl_process.ts";

/** Writes `base` (any kubeconfig form) as JSON to `file`, its first cluster changed by `edit`. */
export async function deriveKubeconfig(
  base: string,
  file: string,
  edit: (cluster: Record<string, unknown>) => void,
): Promise<string> {
  const out = await kubectl(["--kubeconfig", base, "config", "view", "--raw", "-o", "json"]);
  const config = JSON.parse(out.stdout);
  edit(config.clusters[0].cluster);
  await Deno.writeTextFile(file, JSON.stringify(config));
  return file;
}

/** `ktctl connect --method socks5` on `kubeconfig`, in the demo namespace, with `home` as HOME. */
export function startSocks5(kubeconfig: string, home: string): Promise<KtctlProcess> {
  return startKtctl(
    [
      "-c",
      kubeconfig,
      "-n",
      WEB.namespace,
      "--method",
      "socks5",
      "--dialDirect",
      "127.0.0.0/8,::1/128",
    ],
    { env: { HOME: home, USERPROFILE: home } },
  );
}
