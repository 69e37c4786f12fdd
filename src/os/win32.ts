/**
 * The few Win32 calls sysproxy needs, through Deno's FFI (`--allow-ffi`; ktctl runs with
 * `--allow-all`), loaded on first use so other platforms never open a DLL:
 * - the registry as UTF-16 (advapi32): exact in every locale, unlike reg.exe's console output,
 *   and synchronous, so a console-close handler can restore before Windows ends the process;
 * - WM_SETTINGCHANGE "Environment" (user32) and WinINet's SETTINGS_CHANGED + REFRESH (wininet),
 *   so Explorer and running WinINet programs pick changes up;
 * - process identity from GetProcessTimes (kernel32), since wmic is gone from Windows 11;
 * - SetConsoleCtrlHandler with a thread-safe callback: Windows' handler thread waits while the
 *   callback runs on the main thread (docs/windows.md, "Windows behaviour ktctl relies on").
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { decodeRegData, encodeRegData, RegistryError, type RegValue } from "./windows_registry.ts";
import type { WindowsProcesses } from "./process_probe_windows.ts";
import type { InternetRefresh, WindowsSystem } from "./windows_system.ts";
import { type Kernel32, openKernel32 } from "./kernel32.ts";
import { wide } from "./utf16.ts";
import { ffiConnections } from "./wininet.ts";

const logger = getLogger(["ktctl", "sysproxy"]);

const HKEY_CURRENT_USER = 0x80000001n;
const HKEY_LOCAL_MACHINE = 0x80000002n;
const KEY_QUERY_VALUE = 0x1;
const KEY_SET_VALUE = 0x2;
const ERROR_SUCCESS = 0;
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_MORE_DATA = 234;
const HWND_BROADCAST = 0xffffn;
const WM_SETTINGCHANGE = 0x1a;
const SMTO_ABORTIFHUNG = 0x2;
const BROADCAST_TIMEOUT_MS = 5_000;
const INTERNET_OPTION_REFRESH = 37;
const INTERNET_OPTION_SETTINGS_CHANGED = 39;
const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
const STILL_ACTIVE = 259;

const SYMBOLS = {
  advapi32: {
    RegOpenKeyExW: { parameters: ["pointer", "buffer", "u32", "u32", "buffer"], result: "i32" },
    RegCreateKeyExW: {
      parameters: [
        "pointer",
        "buffer",
        "u32",
        "pointer",
        "u32",
        "u32",
        "pointer",
        "buffer",
        "pointer",
      ],
      result: "i32",
    },
    RegQueryValueExW: {
      parameters: ["pointer", "buffer", "pointer", "buffer", "buffer", "buffer"],
      result: "i32",
    },
    RegSetValueExW: {
      parameters: ["pointer", "buffer", "u32", "u32", "buffer", "u32"],
      result: "i32",
    },
    RegDeleteValueW: { parameters: ["pointer", "buffer"], result: "i32" },
    RegCloseKey: { parameters: ["pointer"], result: "i32" },
  },
  user32: {
    SendMessageTimeoutW: {
      parameters: ["pointer", "u32", "usize", "buffer", "u32", "u32", "buffer"],
      result: "isize",
    },
  },
  wininet: {
    InternetSetOptionW: { parameters: ["pointer", "u32", "pointer", "u32"], result: "i32" },
  },
} as const;

type Libraries = { [L in keyof typeof SYMBOLS]: Deno.DynamicLibrary<(typeof SYMBOLS)[L]> } & {
  kernel32: Kernel32;
};

let opened: Libraries | undefined;

function libs(): Libraries {
  return opened ??= {
    advapi32: Deno.dlopen("advapi32.dll", SYMBOLS.advapi32),
    user32: Deno.dlopen("user32.dll", SYMBOLS.user32),
    wininet: Deno.dlopen("wininet.dll", SYMBOLS.wininet),
    kernel32: openKernel32(),
  };
}

/** `HKCU\a\b` -> `a\b`; only the current user's hive is ever changed. */
function subkeyOf(key: string): string {
  const match = /^(?:HKCU|HKEY_CURRENT_USER)\\(.+)$/i.exec(key);
  if (!match) throw new RegistryError(`${key} is not under HKCU`);
  return match[1];
}

/** The hive and subkey; HKLM only for reading (the proxy policy). */
function rootOf(key: string, use: KeyUse): { root: bigint; sub: string } {
  const machine = /^(?:HKLM|HKEY_LOCAL_MACHINE)\\(.+)$/i.exec(key);
  if (machine && use === "read") return { root: HKEY_LOCAL_MACHINE, sub: machine[1] };
  return { root: HKEY_CURRENT_USER, sub: subkeyOf(key) };
}

function regError(what: string, key: string, name: string, code: number): RegistryError {
  return new RegistryError(`${what} ${key}\\${name} failed with Windows error ${code}`);
}

/** How a key is opened: to read, to write (created if missing), to delete values from. */
type KeyUse = "read" | "write" | "delete";

/** Opens `key`; `undefined` when it does not exist and `use` is not "write". */
function openKey(key: string, use: KeyUse): Deno.PointerValue | undefined {
  const { advapi32 } = libs();
  const handle = new BigUint64Array(1);
  const out = new Uint8Array(handle.buffer);
  const where = rootOf(key, use);
  const sub = wide(where.sub);
  const root = Deno.UnsafePointer.create(where.root);
  const access = use === "read" ? KEY_QUERY_VALUE : KEY_QUERY_VALUE | KEY_SET_VALUE;
  const code = use === "write"
    ? advapi32.symbols.RegCreateKeyExW(root, sub, 0, null, 0, access, null, out, null)
    : advapi32.symbols.RegOpenKeyExW(root, sub, 0, access, out);
  if (use !== "write" && code === ERROR_FILE_NOT_FOUND) return undefined;
  if (code !== ERROR_SUCCESS) throw regError("Opening", key, "", code);
  return Deno.UnsafePointer.create(handle[0]);
}

function withKey<T>(key: string, use: KeyUse, body: (hkey: Deno.PointerValue) => T): T | null {
  const hkey = openKey(key, use);
  if (hkey === undefined) return null;
  try {
    return body(hkey);
  } finally {
    libs().advapi32.symbols.RegCloseKey(hkey);
  }
}

/** The registry through advapi32: UTF-16 in and out, so every value round-trips exactly. */
export const ffiRegistry = {
  get(key: string, name: string): RegValue | null {
    return withKey(key, "read", (hkey) => {
      const { advapi32 } = libs();
      const type = new Uint32Array(1);
      const size = new Uint32Array(1);
      let data = new Uint8Array(512);
      for (let attempt = 0;; attempt++) {
        size[0] = data.byteLength;
        const code = advapi32.symbols.RegQueryValueExW(
          hkey,
          wide(name),
          null,
          new Uint8Array(type.buffer),
          data,
          new Uint8Array(size.buffer),
        );
        if (code === ERROR_FILE_NOT_FOUND) return null;
        if (code === ERROR_MORE_DATA && attempt < 4) {
          data = new Uint8Array(size[0] + 2);
          continue;
        }
        if (code !== ERROR_SUCCESS) throw regError("Reading", key, name, code);
        return decodeRegData(name, type[0], data.subarray(0, size[0]));
      }
    });
  },

  set(key: string, name: string, value: RegValue): void {
    withKey(key, "write", (hkey) => {
      const { type, bytes } = encodeRegData(value);
      const code = libs().advapi32.symbols.RegSetValueExW(
        hkey,
        wide(name),
        0,
        type,
        bytes,
        bytes.byteLength,
      );
      if (code !== ERROR_SUCCESS) throw regError("Writing", key, name, code);
    });
  },

  delete(key: string, name: string): void {
    withKey(key, "delete", (hkey) => {
      const code = libs().advapi32.symbols.RegDeleteValueW(hkey, wide(name));
      if (code !== ERROR_SUCCESS && code !== ERROR_FILE_NOT_FOUND) {
        throw regError("Deleting", key, name, code);
      }
    });
  },
};

/** What `setx` does after writing: tell every top-level window (Explorer) to re-read it. */
function broadcastEnvironment(): boolean {
  const result = new BigUint64Array(1);
  const sent = libs().user32.symbols.SendMessageTimeoutW(
    Deno.UnsafePointer.create(HWND_BROADCAST),
    WM_SETTINGCHANGE,
    0n,
    wide("Environment"),
    SMTO_ABORTIFHUNG,
    BROADCAST_TIMEOUT_MS,
    new Uint8Array(result.buffer),
  );
  const ok = sent !== 0n;
  logger.debug("WM_SETTINGCHANGE Environment broadcast: {result}", {
    result: ok ? "sent" : "failed",
  });
  return ok;
}

/** Makes running WinINet programs re-read the proxy settings (Microsoft KB226473). */
function refreshInternetSettings(): InternetRefresh {
  const set = libs().wininet.symbols.InternetSetOptionW;
  const settingsChanged = set(null, INTERNET_OPTION_SETTINGS_CHANGED, null, 0) !== 0;
  const refresh = set(null, INTERNET_OPTION_REFRESH, null, 0) !== 0;
  logger.debug(
    "InternetSetOption SETTINGS_CHANGED: {settingsChanged}, REFRESH: {refresh}",
    { settingsChanged: settingsChanged ? "ok" : "failed", refresh: refresh ? "ok" : "failed" },
  );
  return { settingsChanged, refresh };
}

const CTRL_EVENTS: Record<number, string> = {
  0: "CTRL_C",
  1: "CTRL_BREAK",
  2: "CTRL_CLOSE",
  5: "CTRL_LOGOFF",
  6: "CTRL_SHUTDOWN",
};

/**
 * Registers `handler` for the console closing (and logoff/shutdown, should a console program
 * ever get them). Deno's own console handler, which turns CTRL_CLOSE into SIGHUP and returns at
 * once, is installed first (by listening for SIGHUP), so that ours, registered later, runs
 * first: for Ctrl+C and Ctrl+Break it returns FALSE and Deno's SIGINT/SIGBREAK path runs as
 * before; for the others it runs `handler` to the end before Windows ends the process.
 */
function onConsoleClose(handler: () => void): () => void {
  const { kernel32 } = libs();
  const keepDenoFirst = () => {};
  Deno.addSignalListener("SIGHUP", keepDenoFirst);
  const callback = Deno.UnsafeCallback.threadSafe(
    { parameters: ["u32"], result: "i32" },
    (event: number) => {
      logger.debug("Console control event {event}", { event: CTRL_EVENTS[event] ?? event });
      if (event === 0 || event === 1) return 0;
      handler();
      return 1;
    },
  );
  // The callback must not keep connect alive by itself.
  callback.unref();
  if (kernel32.symbols.SetConsoleCtrlHandler(callback.pointer, 1) === 0) {
    callback.close();
    Deno.removeSignalListener("SIGHUP", keepDenoFirst);
    throw new Error("SetConsoleCtrlHandler failed");
  }
  logger.debug("Console close handler registered");
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    kernel32.symbols.SetConsoleCtrlHandler(callback.pointer, 0);
    callback.close();
    Deno.removeSignalListener("SIGHUP", keepDenoFirst);
  };
}

/** Running pids and their creation times (100 ns FILETIME ticks) through kernel32. */
export const ffiProcesses: WindowsProcesses = {
  pids(): Set<number> {
    const { kernel32 } = libs();
    for (let capacity = 4096;; capacity *= 4) {
      const pids = new Uint32Array(capacity);
      const needed = new Uint32Array(1);
      const ok = kernel32.symbols.K32EnumProcesses(
        new Uint8Array(pids.buffer),
        pids.byteLength,
        new Uint8Array(needed.buffer),
      );
      if (ok === 0) throw new Error("EnumProcesses failed");
      if (needed[0] < pids.byteLength || capacity >= 1 << 20) {
        return new Set(pids.subarray(0, needed[0] / 4));
      }
    }
  },

  creationTime(pid: number): bigint | "exited" | "inaccessible" {
    const { kernel32 } = libs();
    const handle = kernel32.symbols.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
    if (handle === null) return "inaccessible";
    try {
      const exitCode = new Uint32Array(1);
      if (kernel32.symbols.GetExitCodeProcess(handle, new Uint8Array(exitCode.buffer)) === 0) {
        return "inaccessible";
      }
      if (exitCode[0] !== STILL_ACTIVE) return "exited";
      const times = new BigUint64Array(4);
      const part = (i: number) => new Uint8Array(times.buffer, i * 8, 8);
      if (kernel32.symbols.GetProcessTimes(handle, part(0), part(1), part(2), part(3)) === 0) {
        return "inaccessible";
      }
      return times[0];
    } finally {
      kernel32.symbols.CloseHandle(handle);
    }
  },
};

/** The real Windows, through FFI. */
export const win32System: WindowsSystem = {
  registry: ffiRegistry,
  connections: ffiConnections,
  broadcastEnvironment,
  refreshInternetSettings,
  onConsoleClose,
};
