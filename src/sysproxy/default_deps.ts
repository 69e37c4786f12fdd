/**
 * The real outside world for sysproxy: on Windows the registry, notifications and process
 * identity through FFI (`win32.ts`, loaded only there); `ps` on macOS and `/proc` on Linux;
 * Deno's file system and `Deno.Command` everywhere.
 *
 * @module
 */
import { type CommandRunner, DenoCommandRunner } from "../os/command_runner.ts";
import type { ProcessProbe } from "../os/process_probe.ts";
import { DarwinProcessProbe, LinuxProcessProbe } from "../os/process_probe_unix.ts";
import { WindowsProcessProbe } from "../os/process_probe_windows.ts";
import { DenoStateFs } from "./state_fs.ts";
import type { Platform, SysProxyDeps } from "./types.ts";
import { ffiProcesses, win32System } from "../os/win32.ts";
import { noWindows } from "../os/windows_system.ts";

/** Deno's OS name folded into the three sysproxy knows (other Unixes behave like Linux). */
export function currentPlatform(): Platform {
  const os = Deno.build.os;
  return os === "windows" || os === "darwin" ? os : "linux";
}

/** The process probe for a platform. */
export function processProbeFor(platform: Platform, runner: CommandRunner): ProcessProbe {
  switch (platform) {
    case "windows":
      return new WindowsProcessProbe(ffiProcesses);
    case "darwin":
      return new DarwinProcessProbe(runner);
    case "linux":
      return new LinuxProcessProbe();
  }
}

/** The user's home: %USERPROFILE% on Windows, $HOME elsewhere. */
export function homeDir(platform: Platform, env: (name: string) => string | undefined): string {
  const home = platform === "windows"
    ? env("USERPROFILE") ??
      (env("HOMEDRIVE") && env("HOMEPATH") ? `${env("HOMEDRIVE")}${env("HOMEPATH")}` : undefined)
    : env("HOME");
  if (!home) {
    throw new Error(
      `cannot find the home folder (${platform === "windows" ? "%USERPROFILE%" : "$HOME"})`,
    );
  }
  return home;
}

/** Real implementations of every dependency. */
export function defaultDeps(): SysProxyDeps {
  const platform = currentPlatform();
  const runner = new DenoCommandRunner();
  return {
    runner,
    windows: platform === "windows" ? win32System : noWindows,
    fs: new DenoStateFs(Deno.pid),
    process: processProbeFor(platform, runner),
    platform,
    home: homeDir(platform, (name) => Deno.env.get(name)),
    pid: Deno.pid,
    now: () => new Date(),
  };
}
