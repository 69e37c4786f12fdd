/**
 * The Windows registry through `reg.exe` and `setx.exe` (no PowerShell, no FFI), because both
 * exist on every Windows and under Wine. Decisions use exit codes and the parsed
 * `    NAME    REG_TYPE    DATA` line only; message texts differ between Windows, its
 * languages and Wine.
 *
 * @module
 */
import type { CommandResult, CommandRunner } from "./command_runner.ts";

/** Where `setx` (without /M) stores user environment variables. */
export const ENVIRONMENT_KEY = "HKCU\\Environment";
/** The per-user WinINet proxy settings that browsers and many system services read. */
export const INTERNET_SETTINGS_KEY =
  "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";

/** The string registry types ktctl reads and writes back verbatim. */
export type RegStringType = "REG_SZ" | "REG_EXPAND_SZ";
/** A registry value of one of the types ktctl is willing to touch. */
export type RegValue =
  | { type: RegStringType; data: string }
  | { type: "REG_DWORD"; data: number };

/** A reg/setx call failed, or its output could not be understood. */
export class RegistryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegistryError";
  }
}

/** `HKCU\Environment\http_proxy`, as shown to users. */
export function valueLabel(key: string, name: string): string {
  return `${key}\\${name}`;
}

/** Renders a value for report lines, e.g. `"socks=127.0.0.1:2223" (REG_SZ)`. */
export function describeValue(value: RegValue | null): string {
  if (value === null) return "not set";
  return value.type === "REG_DWORD"
    ? `${value.data} (REG_DWORD)`
    : `${JSON.stringify(value.data)} (${value.type})`;
}

/** Same value as far as programs are concerned (REG_SZ vs REG_EXPAND_SZ is setx's choice). */
export function sameValue(a: RegValue | null, b: RegValue | null): boolean {
  if (a === null || b === null) return a === b;
  if ((a.type === "REG_DWORD") !== (b.type === "REG_DWORD")) return false;
  return a.data === b.data;
}

/**
 * Finds `name` in `reg query <key> /v <name>` output: CRLF or LF lines, a blank line, the key,
 * then `    NAME    TYPE    DATA` (DATA may contain spaces, may be empty, and the name's case
 * may differ from the query because value names are case-insensitive).
 */
export function parseRegQuery(stdout: string, name: string): RegValue {
  const prefix = `${name.toLowerCase()}    `;
  for (const line of stdout.split(/\r?\n/)) {
    const rest = line.replace(/^\s+/, "");
    if (!line.startsWith(" ") || !rest.toLowerCase().startsWith(prefix)) continue;
    const match = /^(REG_[A-Z0-9_]+)(?: {4}(.*))?$/.exec(rest.slice(prefix.length));
    if (!match) continue;
    return toRegValue(name, match[1], match[2] ?? "");
  }
  throw new RegistryError(`could not find ${name} in the output of reg query`);
}

function toRegValue(name: string, type: string, data: string): RegValue {
  if (data.includes("\uFFFD")) {
    throw new RegistryError(
      `${name} holds characters that reg.exe's output cannot carry; not touching it`,
    );
  }
  if (type === "REG_SZ" || type === "REG_EXPAND_SZ") return { type, data };
  if (type === "REG_DWORD" && /^0x[0-9a-f]{1,8}$/i.test(data)) {
    return { type, data: parseInt(data.slice(2), 16) };
  }
  throw new RegistryError(`${name} has type ${type} (${data}), which ktctl does not change`);
}

function failure(cmd: string, args: string[], result: CommandResult): RegistryError {
  const said = (result.stderr.trim() || result.stdout.trim()).replace(/\s+/g, " ");
  return new RegistryError(
    `${cmd} ${args.join(" ")} failed with exit code ${result.code}${said ? `: ${said}` : ""}`,
  );
}

/** Reads one value; `null` when it (or its key) does not exist, which reg reports as exit 1. */
export async function queryValue(
  runner: CommandRunner,
  key: string,
  name: string,
): Promise<RegValue | null> {
  const args = ["query", key, "/v", name];
  const result = await runner.run("reg", args);
  if (result.code === 1) return null;
  if (result.code !== 0) throw failure("reg", args, result);
  return parseRegQuery(result.stdout, name);
}

/** Writes one value with its exact type (`/f`: never prompt). DWORDs go in decimal. */
export async function setValue(
  runner: CommandRunner,
  key: string,
  name: string,
  value: RegValue,
): Promise<void> {
  const args = ["add", key, "/v", name, "/t", value.type, "/d", String(value.data), "/f"];
  const result = await runner.run("reg", args);
  if (result.code !== 0) throw failure("reg", args, result);
}

/** Deletes one value (`setx` cannot delete, so environment variables go this way too). */
export async function deleteValue(runner: CommandRunner, key: string, name: string): Promise<void> {
  const args = ["delete", key, "/v", name, "/f"];
  const result = await runner.run("reg", args);
  if (result.code !== 0) throw failure("reg", args, result);
}

/**
 * Sets a user environment variable with `setx`, which also broadcasts WM_SETTINGCHANGE so
 * Explorer (and so every program started from it afterwards) picks the change up.
 */
export async function setUserEnv(
  runner: CommandRunner,
  name: string,
  value: string,
): Promise<void> {
  const args = [name, value];
  const result = await runner.run("setx", args);
  if (result.code !== 0) throw failure("setx", args, result);
}
