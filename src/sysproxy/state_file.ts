/**
 * The state file `<home>/.ktctl/connect-<address>-<port>.json`: who runs a connect on that
 * address:port (pid + process start time, so a recycled pid is not mistaken for it), and every
 * value `--setupGlobalProxy` touches with its previous value and the value set. It is written
 * before anything changes, so whatever moment a connect dies at, the file on disk is enough
 * for `ktctl clean` to put everything back.
 *
 * @module
 */
import type { Platform, ProxyMethod } from "./types.ts";
import { ENVIRONMENT_KEY, INTERNET_SETTINGS_KEY, type RegValue } from "../os/windows_registry.ts";

/** Marks a file as ours, so a stray JSON file is never taken for state. */
export const STATE_FORMAT = "ktctl-connect-state";
/** Bumped whenever a reader of the old format would misread the new one. */
export const STATE_VERSION = 1;

/**
 * Every registry value ktctl ever sets, by key: the only ones a state file may name. A state
 * file is a user-writable JSON file, so one that names anything else (a tampered or forged file
 * asking `clean` to "restore" a Run key, say) gets that entry refused, never written. When ktctl
 * starts setting a new value, add its name here.
 */
export const KTCTL_VALUES: Readonly<Record<string, readonly string[]>> = {
  [ENVIRONMENT_KEY]: ["http_proxy", "https_proxy"],
  [INTERNET_SETTINGS_KEY]: ["ProxyServer", "ProxyOverride", "ProxyEnable", "AutoConfigURL"],
};

/** Whether `key\name` is one of {@link KTCTL_VALUES} (compared as Windows does: any case). */
export function isKtctlValue(key: string, name: string): boolean {
  const names = Object.entries(KTCTL_VALUES).find(([k]) => k.toLowerCase() === key.toLowerCase())
    ?.[1];
  return names !== undefined && names.some((n) => n.toLowerCase() === name.toLowerCase());
}

/** One registry value touched by ktctl: what it was (`null`: did not exist) and what we set. */
export interface TouchedValue {
  key: string;
  name: string;
  previous: RegValue | null;
  set: RegValue;
}

/** The content of a state file (format version 1). */
export interface StateRecord {
  format: typeof STATE_FORMAT;
  version: typeof STATE_VERSION;
  pid: number;
  /** The owner's identity from the process probe; `null` if it could not be read. */
  processStart: string | null;
  address: string;
  port: number;
  /** `null` until a global proxy is set up. */
  method: ProxyMethod | null;
  createdAt: string;
  /** In the order applied; restored in reverse. Empty for a connect without global proxy. */
  values: TouchedValue[];
}

/** A state file read back: usable, or why not. */
export type ParsedState =
  | { kind: "ok"; record: StateRecord }
  | { kind: "corrupt"; reason: string }
  | { kind: "foreign"; version: unknown };

/** Joins path parts with the platform's separator (paths are shown to users). */
export function joinPath(platform: Platform, ...parts: string[]): string {
  const separator = platform === "windows" ? "\\" : "/";
  return parts.map((part, i) => i === 0 ? part.replace(/[\\/]+$/, "") : part).join(separator);
}

/** The folder holding state files; `home` is %USERPROFILE% on Windows. */
export function stateDir(home: string, platform: Platform): string {
  return joinPath(platform, home, ".ktctl");
}

/** The state file name for an address:port (characters Windows forbids, like `:`, become `_`). */
export function stateFileName(address: string, port: number): string {
  return `connect-${address.replace(/[^A-Za-z0-9.-]/g, "_")}-${port}.json`;
}

/** Whether a file name in the state folder is a state file. */
export function isStateFileName(name: string): boolean {
  return /^connect-.+-\d+\.json$/.test(name);
}

/** Serialises a record (pretty, so a user can read what will be restored). */
export function formatState(record: StateRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** Reads and validates a state file, never throwing: bad files are reported, not trusted. */
export function parseState(text: string): ParsedState {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { kind: "corrupt", reason: `not JSON (${(error as Error).message})` };
  }
  if (!isObject(data) || data.format !== STATE_FORMAT) {
    return { kind: "corrupt", reason: "not a ktctl connect state file" };
  }
  if (data.version !== STATE_VERSION) return { kind: "foreign", version: data.version };
  const problem = recordProblem(data);
  return problem ? { kind: "corrupt", reason: problem } : {
    kind: "ok",
    record: data as unknown as StateRecord,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function recordProblem(data: Record<string, unknown>): string | undefined {
  if (!Number.isSafeInteger(data.pid) || (data.pid as number) <= 0) return "bad pid";
  if (data.processStart !== null && typeof data.processStart !== "string") {
    return "bad processStart";
  }
  if (typeof data.address !== "string" || data.address === "") return "bad address";
  if (!Number.isSafeInteger(data.port)) return "bad port";
  if (data.method !== null && !["socks", "socks5", "http"].includes(data.method as string)) {
    return "bad method";
  }
  if (typeof data.createdAt !== "string") return "bad createdAt";
  if (!Array.isArray(data.values)) return "bad values";
  for (const [index, value] of data.values.entries()) {
    if (
      !isObject(value) || typeof value.key !== "string" || typeof value.name !== "string" ||
      !(value.previous === null || isRegValue(value.previous)) || !isRegValue(value.set)
    ) return `bad value #${index + 1}`;
  }
  return undefined;
}

function isRegValue(value: unknown): value is RegValue {
  if (!isObject(value)) return false;
  if (value.type === "REG_DWORD") {
    return Number.isInteger(value.data) && (value.data as number) >= 0 &&
      (value.data as number) <= 0xffffffff;
  }
  return (value.type === "REG_SZ" || value.type === "REG_EXPAND_SZ") &&
    typeof value.data === "string";
}
