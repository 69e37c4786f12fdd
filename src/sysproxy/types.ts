/**
 * The shapes shared by the sysproxy modules: what the caller asks for, and the outside world
 * (commands, files, processes, clock) injected as one `deps` object so tests can replace it.
 *
 * @module
 */
import type { CommandRunner } from "./command_runner.ts";
import type { ProcessProbe } from "./process_probe.ts";
import type { StateFs } from "./state_fs.ts";

/** How the proxy reaches the cluster; `socks` is SOCKS4/4a, the Windows default. */
export type ProxyMethod = "socks" | "socks5";

/** The platforms ktctl runs on, as in `Deno.build.os`. */
export type Platform = "windows" | "linux" | "darwin";

/** What `ktctl connect --setupGlobalProxy` asks for. */
export interface GlobalProxyRequest {
  method: ProxyMethod;
  /** The proxy's listen address, e.g. `127.0.0.1` (`0.0.0.0` is reached as `127.0.0.1`). */
  address: string;
  port: number;
  /** The `http_proxy` value, chosen by the caller, e.g. `socks4a://127.0.0.1:2223`. */
  proxyUrl: string;
  /**
   * Also set `https_proxy` to `proxyUrl` (default: no). Off by default because a `socks4a://`
   * (or `socks://`) https_proxy makes Go programs such as kubectl fail every HTTPS request.
   */
  httpsProxy?: boolean;
}

/** Everything sysproxy needs from the outside world. */
export interface SysProxyDeps {
  runner: CommandRunner;
  fs: StateFs;
  process: ProcessProbe;
  platform: Platform;
  /** %USERPROFILE% on Windows, $HOME elsewhere. */
  home: string;
  /** This process's pid. */
  pid: number;
  now: () => Date;
}
