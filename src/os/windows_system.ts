/**
 * What sysproxy needs from Windows besides files, as one injectable object: the real one is
 * FFI (`win32.ts`), tests use a recording fake. Every call is synchronous, so the same restore
 * code serves a normal stop and the console-close handler, which cannot await.
 *
 * @module
 */
import type { Registry } from "./windows_registry.ts";
import type { ConnectionOptions } from "./wininet.ts";

/** Which of WinINet's two refresh calls succeeded. */
export interface InternetRefresh {
  settingsChanged: boolean;
  refresh: boolean;
}

export interface WindowsSystem {
  registry: Registry;
  /** WinINet's per-connection proxy settings (LAN and RAS entries); absent: registry only. */
  connections?: ConnectionOptions;
  /**
   * Broadcasts WM_SETTINGCHANGE "Environment" (what setx does after writing), so Explorer, and
   * every program started from it afterwards, sees the user environment as it now is.
   * `false` when the broadcast failed or timed out.
   */
  broadcastEnvironment(): boolean;
  /** `InternetSetOption` SETTINGS_CHANGED then REFRESH: running WinINet programs re-read. */
  refreshInternetSettings(): InternetRefresh;
  /**
   * Runs `handler` synchronously when the console window is closed (or on logoff/shutdown,
   * should they reach a console program), before Windows ends the process. Returns the
   * function that unregisters it.
   */
  onConsoleClose(handler: () => void): () => void;
}

/** For platforms other than Windows: state files there never hold registry values. */
export const noWindows: WindowsSystem = {
  registry: {
    get: unavailable,
    set: unavailable,
    delete: unavailable,
  },
  broadcastEnvironment: unavailable,
  refreshInternetSettings: unavailable,
  onConsoleClose: unavailable,
};

function unavailable(): never {
  throw new Error("the Windows registry is only available on Windows");
}
