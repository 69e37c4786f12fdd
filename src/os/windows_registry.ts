/**
 * Registry values as ktctl records and restores them, and their exact byte form. Values are
 * read and written as UTF-16 through the registry API (see `win32.ts`), never through reg.exe,
 * whose console output turns characters outside the console code page into `?`: what is
 * recorded is what was there, code unit for code unit, in every locale.
 *
 * @module
 */

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

/** One registry key's values, by full key path (`HKCU\...`) and value name. Synchronous. */
export interface Registry {
  /** The value, or `null` when it (or its key) does not exist. @throws {RegistryError} */
  get(key: string, name: string): RegValue | null;
  /** Creates or replaces the value (creating the key if needed). @throws {RegistryError} */
  set(key: string, name: string, value: RegValue): void;
  /** Deletes the value; a missing one is not an error. @throws {RegistryError} */
  delete(key: string, name: string): void;
}

/** A registry call failed, or a value has a type ktctl does not change. */
export class RegistryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegistryError";
  }
}

const REG_SZ = 1;
const REG_EXPAND_SZ = 2;
const REG_DWORD = 4;

/**
 * A value from its registry type number and data bytes. Strings drop exactly one terminating
 * NUL (the registry stores it; a value written without one keeps all its characters).
 * @throws {RegistryError} for types other than REG_SZ, REG_EXPAND_SZ and REG_DWORD.
 */
export function decodeRegData(name: string, type: number, bytes: Uint8Array): RegValue {
  if (type === REG_DWORD && bytes.byteLength === 4) {
    return {
      type: "REG_DWORD",
      data: new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true),
    };
  }
  if ((type === REG_SZ || type === REG_EXPAND_SZ) && bytes.byteLength % 2 === 0) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let length = bytes.byteLength / 2;
    if (length > 0 && view.getUint16((length - 1) * 2, true) === 0) length--;
    let data = "";
    for (let i = 0; i < length; i++) data += String.fromCharCode(view.getUint16(i * 2, true));
    return { type: type === REG_SZ ? "REG_SZ" : "REG_EXPAND_SZ", data };
  }
  throw new RegistryError(
    `${name} has registry type ${type} (${bytes.byteLength} bytes), which ktctl does not change`,
  );
}

/** The registry type number and data bytes of a value (strings NUL-terminated, UTF-16LE). */
export function encodeRegData(value: RegValue): { type: number; bytes: Uint8Array<ArrayBuffer> } {
  if (value.type === "REG_DWORD") {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value.data, true);
    return { type: REG_DWORD, bytes };
  }
  const bytes = new Uint8Array((value.data.length + 1) * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < value.data.length; i++) view.setUint16(i * 2, value.data.charCodeAt(i), true);
  return { type: value.type === "REG_SZ" ? REG_SZ : REG_EXPAND_SZ, bytes };
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

/** Same value as far as programs are concerned (REG_SZ vs REG_EXPAND_SZ aside). */
export function sameValue(a: RegValue | null, b: RegValue | null): boolean {
  if (a === null || b === null) return a === b;
  if ((a.type === "REG_DWORD") !== (b.type === "REG_DWORD")) return false;
  return a.data === b.data;
}
