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
 * The user environment through the registry API (FFI, `win32.ts`: exact UTF-16 values in every
 * locale, no reg.exe or setx); the system proxy the way Windows keeps it, through WinINet's
 * per-connection settings for the LAN and every RAS/VPN entry (`connections.ts`,
 * `src/os/wininet.ts`), plus the LAN's legacy registry values.
 * - `socks`: `http_proxy` and `https_proxy` = `http://<host>:<port>` (the port speaks HTTP in
 *   every mode; `http://` is the one proxy URL every common client accepts); every connection:
 *   `socks=<host>:<port>`, its bypass list plus `<local>`, auto-detect and auto-config off; the
 *   legacy `ProxyServer`, `ProxyOverride`, then `ProxyEnable` = 1 likewise.
 * - `socks5`: only `http_proxy` = `socks5h://...` (Windows' system proxy speaks SOCKS4 only).
 * - `http`: `http_proxy` and `https_proxy` = `http://...`; every connection: the auto-config URL
 *   `http://<host>:<port>/proxy.pac` with auto-detect off, its manual proxy kept (Windows falls
 *   back to it when the PAC cannot be fetched); the legacy `AutoConfigURL` likewise.
 * - Group Policy `ProxySettingsPerUser=0` (HKLM): the system proxy is left alone, with one
 *   warning (`AppliedProxy.warnings`); the variables are still set.
 * - `https_proxy` in `socks5` mode only with `httpsProxy: true`.
 * - `<host>` is `clientHost(address)` (src/net/client_address.ts), also in `proxyUrl`.
 * - Names are case-insensitive: an existing `HTTP_PROXY` is the same value, and it is what gets
 *   recorded and restored.
 * - After every change: WM_SETTINGCHANGE "Environment" (Explorer, and programs started from it
 *   from now on, see the variables) and InternetSetOption SETTINGS_CHANGED + REFRESH (running
 *   WinINet programs re-read the proxy). Running programs never see environment changes.
 * - While values are set, a console control handler restores them synchronously if the console
 *   window is closed (`ConnectClaim.restoreOnConsoleClose`).
 * - Why the legacy registry values are still written beside the per-connection settings: some
 *   programs read them directly (Python's `urllib`, scripts), older Windows builds and Wine keep
 *   the LAN settings only there (Wine's WinINet ignores the bypass list, the auto-config URL and
 *   connection names in per-connection writes), and a failed per-connection read leaves them as
 *   the only way.
 *
 * The settings found before anything changes (`previous_settings.ts`) become an `UpstreamConfig`
 * (src/net/proxy_config.ts) for routing and the PAC file, recorded in the state file.
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
 * Format 2 adds `connections` (WinINet settings per connection: `connection` null for the LAN or
 * the RAS entry's name, `previous`, `set`, `applied` as Windows reported it, and for the LAN the
 * previous legacy values in `mirror`) and `upstream` (the previous configuration); a file without
 * connections is still written as format 1, and both are read.
 * `previous` is `null` when the value did not exist, else `{type, data}` with type REG_SZ,
 * REG_EXPAND_SZ (data a string) or REG_DWORD (data a number). `processStart` is the owner's
 * identity: Linux `/proc/<pid>/stat` starttime, macOS `ps -o lstart=`, Windows
 * `started:<creation FILETIME>` from GetProcessTimes (older versions wrote `created:`/`image:`
 * identities, which are not compared: such an owner counts as alive while its pid runs).
 *
 * ## Restoring
 * Connections first: one still as ktctl left it (`set` or `applied`) gets its previous settings
 * back, one the user changed is left alone with a warning. Then per value, in reverse order:
 * still what ktctl set → previous value back (exact type) or
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
export type { StateRecord, TouchedConnection, TouchedValue } from "./state_file.ts";
export { describeUpstream, readPreviousSettings } from "./previous_settings.ts";
