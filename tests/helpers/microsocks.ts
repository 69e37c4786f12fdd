/**
 * Debian's microsocks on a loopback port, as a real SOCKS5 proxy for tests (a kubeconfig's
 * `proxy-url`, undici's SOCKS connector). Resolves once it accepts connections.
 */
import { freePort } from "../../testenv/ktctl_process.ts";
import { waitFor } from "./wait.ts";

export interface Microsocks {
  /** `socks5://127.0.0.1:PORT` */
  url: string;
  stop(): Promise<void>;
}

/** Starts microsocks with extra `args` (e.g. `-u user -P secret`). */
export async function startMicrosocks(args: string[] = []): Promise<Microsocks> {
  const port = freePort();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("microsocks", {
      args: ["-i", "127.0.0.1", "-p", String(port), ...args],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (e) {
    throw new Error(`microsocks is needed (apt-get install microsocks): ${e}`);
  }
  const stop = async () => {
    try {
      child.kill();
    } catch { /* already gone */ }
    await child.status;
  };
  try {
    await waitFor(
      async () => {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          return true;
        } catch {
          return false;
        }
      },
      10_000,
      "microsocks listening",
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `socks5://127.0.0.1:${port}`, stop };
}
