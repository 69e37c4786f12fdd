/**
 * The shapes shared by the sysproxy modules: what the caller asks for, and the outside world
 * (commands, files, processes, clock) injected as one `deps` object so tests can replace it.
 *
 * @module
 */
import type { CommandRunner } from "../os/command_runner.ts";
import type { ProcessProbe } from "../os/process_probe.ts";
import type { StateFs } from "./state_fs.ts";
import type { WindowsSystem } from "../os/windows_system.ts";

/**
 * What connect tells programs to use: `socks` (SOCKS4/4a, the Windows default), `socks5`, or
 * `http` (the HTTP proxy on the same port, with a PAC file for the system proxy).
 */
export type ProxyMethod = "socks" | "socks5" | "http";

/** The platforms ktctl runs on, as in `Deno.build.os`. */
export type Platform = "windows" | "linux" | "darwin";

/** What `ktctl connect --setupGlobalProxy` asks for. */
export interface GlobalProxyRequest {
  method: ProxyMethod;
  /**
   * The proxy's listen address, e.g. `127.0.0.1`. Clients reach a wildcard one on loopback
   * (`clientHost` in src/net/client_address.ts): `0.0.0.0` as `127.0.0.1`, `::` as `::1`.
   */
  address: string;
  port: number;
  /**
   * The `http_proxy` value in `socks5` and `http` mode, chosen by the caller, e.g.
   * `socks5h://127.0.0.1:2223` or `http://127.0.0.1:2223`; `socks` mode always uses
   * `http://HOST:PORT` (see `environmentProxyUrl`). A wildcard host in it is replaced by the
   * client host above.
   */
  proxyUrl: string;
  /**
   * `socks5` mode: also set `https_proxy` to `proxyUrl` (default: no), because a `socks5h://`
   * https_proxy is not understood by every program. `socks` and `http` mode always set both.
   */
  httpsProxy?: boolean;
}

/** Everything sysproxy needs from the outside world. */
export interface SysProxyDeps {
  /** Runs OS tools: macOS's `ps` here, and the CLI's shell detection (tasklist). */
  runner: CommandRunner;
  /** The registry and Windows notifications; `noWindows` (windows_system.ts) elsewhere. */
  windows: WindowsSystem;
  fs: StateFs;
  process: ProcessProbe;
  platform: Platform;
  /** %USERPROFILE% on Windows, $HOME elsewhere. */
  home: string;
  /** This process's pid. */
  pid: number;
  now: () => Date;
}
