/**
 * The system-proxy side of `ktctl connect` and `ktctl clean`.
 *
 * ## Use
 * ```ts
 * const deps = defaultDeps();
 * const claim = await claimConnect({ address, port }, deps); // AlreadyRunningError if taken
 * const applied = await setupGlobalProxy({ method, address, port, proxyUrl }, claim, deps);
 * applied.summary.forEach((line) => logger.info(line));
 * // ...on exit. restore() puts the values back and leaves a plain claim in the state file;
 * // release() removes the file, restoring first whatever is still recorded (so either order,
 * // or release() alone, is safe). A failed restore keeps the file for `ktctl clean`.
 * (await applied.restore()).lines.forEach(...); (await claim.release()).forEach(...);
 * // ktctl clean [--dryRun]
 * const report = await clean({ dryRun }, deps); // report.lines, report.ok
 * ```
 * `claim.repaired` holds lines about a dead predecessor's leftovers that the claim restored.
 * Errors: {@link AlreadyRunningError}, {@link ClaimError} (unreadable/foreign state file, owner
 * liveness unknown, repair failed), {@link SetupError} (nothing left half-changed; `lines`).
 *
 * ## What is changed (Windows only)
 * Everything goes through the registry API (FFI, `win32.ts`): exact UTF-16 values in every
 * locale, no reg.exe or setx.
 * - `socks`: the user environment variable `http_proxy` = `proxyUrl`; under
 *   `HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings`: `ProxyServer` =
 *   `socks=<host>:<port>`, `ProxyOverride` = the user's list plus `<local>`, then
 *   `ProxyEnable` = 1. A set AutoConfigURL (PAC) gets a warning in the summary.
 * - `socks5`: only `http_proxy` (Windows' system proxy speaks SOCKS4 only).
 * - `http`: `http_proxy` and `https_proxy` = `proxyUrl`, and `AutoConfigURL` =
 *   `http://<host>:<port>/proxy.pac`; ProxyEnable/ProxyServer stay as they are, so a dead ktctl
 *   fails open (see `windows_plan.ts`).
 * - `https_proxy` is set in socks modes only with `httpsProxy: true`: a `socks4a://` https_proxy
 *   breaks every HTTPS request of Go programs such as kubectl.
 * - `<host>` is `clientHost(address)` (src/net/client_address.ts), also in `proxyUrl`.
 * - Names are case-insensitive: an existing `HTTP_PROXY` is the same value, and it is what gets
 *   recorded and restored.
 * - After every change: WM_SETTINGCHANGE "Environment" (Explorer, and programs started from it
 *   from now on, see the variables) and InternetSetOption SETTINGS_CHANGED + REFRESH (running
 *   WinINet programs re-read the proxy). Running programs never see environment changes.
 * - While values are set, a console control handler restores them synchronously if the console
 *   window is closed (`ConnectClaim.restoreOnConsoleClose`).
 *
 * Off Windows nothing is changed; `setupGlobalProxy` returns the `export http_proxy=...` hint.
 * Claims and `clean` work everywhere (the state file also marks a live connect).
 *
 * ## State file `<home>/.ktctl/connect-<address>-<port>.json` (home = %USERPROFILE% on Windows)
 * Written atomically (temp file + rename; the first claim via hard link, failing if it exists)
 * BEFORE any value changes, so a crash at any point leaves enough to restore:
 * ```json
 * { "format": "ktctl-connect-state", "version": 1, "pid": 4242,
 *   "processStart": "started:133589000000000000", "address": "127.0.0.1", "port": 2223,
 *   "method": "socks", "createdAt": "2024-05-01T09:30:01.000Z",
 *   "values": [{ "key": "HKCU\\Environment", "name": "http_proxy", "previous": null,
 *                "set": { "type": "REG_SZ", "data": "socks4a://127.0.0.1:2223" } }] }
 * ```
 * `previous` is `null` when the value did not exist, else `{type, data}` with type REG_SZ,
 * REG_EXPAND_SZ (data a string) or REG_DWORD (data a number). `processStart` is the owner's
 * identity: Linux `/proc/<pid>/stat` starttime, macOS `ps -o lstart=`, Windows
 * `started:<creation FILETIME>` from GetProcessTimes (older versions wrote `created:`/`image:`
 * identities, which are not compared: such an owner counts as alive while its pid runs).
 *
 * ## Restoring
 * Per value, in reverse order: still what ktctl set → previous value back (exact type) or
 * deleted if it did not exist; already the previous value → nothing; anything else → the user
 * changed it, left alone with a warning line. A failed write keeps the state file and says to
 * run `ktctl clean`. The restore is synchronous, so the console-close handler runs the same code.
 *
 * @module
 */
export {
  type CommandResult,
  type CommandRunner,
  DenoCommandRunner,
  ExecutableNotFoundError,
} from "../os/command_runner.ts";
export { type ProcessProbe, ProcessProbeError } from "../os/process_probe.ts";
export { parseTasklist } from "../os/tasklist.ts";
export { DenoStateFs, type StateFs } from "./state_fs.ts";
export type { GlobalProxyRequest, Platform, ProxyMethod, SysProxyDeps } from "./types.ts";
export { defaultDeps } from "./default_deps.ts";
export { AlreadyRunningError, claimConnect, ClaimError, ConnectClaim } from "./claim.ts";
export { type AppliedProxy, SetupError, setupGlobalProxy } from "./setup.ts";
export type { RestoreReport } from "./touched_values.ts";
export { clean, type CleanReport } from "./clean.ts";
export type { StateRecord, TouchedValue } from "./state_file.ts";
