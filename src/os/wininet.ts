/**
 * WinINet's proxy settings the way Windows keeps them: one set per connection, the LAN's and one
 * per dial-up/VPN (RAS) entry, read and written with `InternetQueryOption`/`InternetSetOption`
 * and `INTERNET_OPTION_PER_CONNECTION_OPTION` (Microsoft KB226473). Windows then updates both the
 * binary `Connections` values the Internet Options dialog keeps (with the "Automatically detect
 * settings" flag) and, for the LAN, the legacy `ProxyEnable`/`ProxyServer`/... registry values.
 * While a VPN connection is up, programs use that connection's settings, not the LAN's, so each
 * RAS entry (`RasEnumEntriesW`) is read and written too.
 *
 * FFI through Deno (`--allow-ffi`), libraries opened on first use, Windows only. Every call is
 * synchronous, so the console-close handler can restore through it.
 * @module
 */

/** `PROXY_TYPE_*` bits of `INTERNET_PER_CONN_FLAGS`. */
import { openKernel32 } from "./kernel32.ts";
import { readWide, wide } from "./utf16.ts";
export const PROXY_TYPE_DIRECT = 1;
export const PROXY_TYPE_PROXY = 2;
export const PROXY_TYPE_AUTO_PROXY_URL = 4;
export const PROXY_TYPE_AUTO_DETECT = 8;

/** One connection's proxy settings; `null` strings are unset (a NULL pointer to WinINet). */
export interface ConnectionSettings {
  /** `PROXY_TYPE_*` bits. */
  flags: number;
  /** `ProxyServer` syntax: `h:p`, or `http=h:p;https=h:p;socks=h:p`. */
  proxyServer: string | null;
  /** `ProxyOverride` syntax: `*.corp;10.*;<local>`. */
  bypass: string | null;
  autoConfigUrl: string | null;
}

/** The LAN settings are the connection without a name. */
export type ConnectionName = string | null;

/** Per-connection proxy settings; the real one is {@link ffiConnections}, tests use fakes. */
export interface ConnectionOptions {
  /** The RAS (dial-up/VPN) entries of the current user, by name. @throws {WinInetError} */
  rasEntries(): string[];
  /** @throws {WinInetError} */
  get(connection: ConnectionName): ConnectionSettings;
  /** Writes all four options at once. @throws {WinInetError} */
  set(connection: ConnectionName, settings: ConnectionSettings): void;
}

/** A WinINet or RAS call failed. */
export class WinInetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WinInetError";
  }
}

/** Same settings as far as WinINet is concerned (an unset string and `""` are the same). */
export function sameSettings(a: ConnectionSettings, b: ConnectionSettings): boolean {
  return a.flags === b.flags && (a.proxyServer ?? "") === (b.proxyServer ?? "") &&
    (a.bypass ?? "") === (b.bypass ?? "") && (a.autoConfigUrl ?? "") === (b.autoConfigUrl ?? "");
}

/** `LAN` or `connection "VPN 公司"`, as shown to users. */
export function connectionLabel(connection: ConnectionName): string {
  return connection === null ? "the LAN settings" : `the connection ${JSON.stringify(connection)}`;
}

/** `flags=3 (direct, proxy) server="..." bypass="..." pac=none`, as shown to users. */
export function describeSettings(s: ConnectionSettings): string {
  const bits = [
    [PROXY_TYPE_DIRECT, "direct"],
    [PROXY_TYPE_PROXY, "proxy"],
    [PROXY_TYPE_AUTO_PROXY_URL, "auto-config URL"],
    [PROXY_TYPE_AUTO_DETECT, "auto-detect"],
  ] as const;
  const names = bits.filter(([bit]) => (s.flags & bit) !== 0).map(([, name]) => name);
  const text = (v: string | null) => v === null ? "none" : JSON.stringify(v);
  return `flags ${s.flags} (${names.join(", ")}), server ${text(s.proxyServer)}, bypass ${
    text(s.bypass)
  }, auto-config URL ${text(s.autoConfigUrl)}`;
}

// ---- FFI -------------------------------------------------------------------------------------

const INTERNET_OPTION_PER_CONNECTION_OPTION = 75;
const INTERNET_PER_CONN_FLAGS = 1;
const INTERNET_PER_CONN_PROXY_SERVER = 2;
const INTERNET_PER_CONN_PROXY_BYPASS = 3;
const INTERNET_PER_CONN_AUTOCONFIG_URL = 4;
/** sizeof(INTERNET_PER_CONN_OPTION_LISTW) and (INTERNET_PER_CONN_OPTIONW) on x64. */
const LIST_SIZE = 32;
const OPTION_SIZE = 16;
/** sizeof(RASENTRYNAMEW) on x64 (WINVER >= 0x500): dwSize, szEntryName[257], dwFlags, path[261]. */
const RASENTRYNAME_SIZE = 1048;
const RAS_ENTRY_NAME_CHARS = 257;
const ERROR_BUFFER_TOO_SMALL = 603;

const SYMBOLS = {
  wininet: {
    InternetQueryOptionW: { parameters: ["pointer", "u32", "buffer", "buffer"], result: "i32" },
    InternetSetOptionW: { parameters: ["pointer", "u32", "buffer", "u32"], result: "i32" },
  },
  rasapi32: {
    RasEnumEntriesW: {
      parameters: ["pointer", "pointer", "buffer", "buffer", "buffer"],
      result: "u32",
    },
  },
} as const;

type Libraries = { [L in keyof typeof SYMBOLS]: Deno.DynamicLibrary<(typeof SYMBOLS)[L]> };
let opened: Partial<Libraries> = {};

function lib<L extends keyof typeof SYMBOLS>(name: L): Libraries[L] {
  return (opened[name] ??= Deno.dlopen(`${name}.dll`, SYMBOLS[name]) as never) as Libraries[L];
}

/** Closes the libraries (tests; the process never needs to). */
export function closeWinInet(): void {
  for (const library of Object.values(opened)) library?.close();
  opened = {};
}

function pointerOf(buffer: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/**
 * An INTERNET_PER_CONN_OPTION_LISTW for `connection` with the four options; `strings` keeps the
 * UTF-16 buffers alive while WinINet reads them.
 */
function optionList(connection: ConnectionName, settings?: ConnectionSettings) {
  const options = new Uint8Array(OPTION_SIZE * 4);
  const ov = new DataView(options.buffer);
  const strings: Uint8Array<ArrayBuffer>[] = [];
  const ids = [
    INTERNET_PER_CONN_FLAGS,
    INTERNET_PER_CONN_PROXY_SERVER,
    INTERNET_PER_CONN_PROXY_BYPASS,
    INTERNET_PER_CONN_AUTOCONFIG_URL,
  ];
  ids.forEach((id, i) => ov.setUint32(i * OPTION_SIZE, id, true));
  if (settings) {
    ov.setUint32(8, settings.flags, true);
    const texts = [settings.proxyServer, settings.bypass, settings.autoConfigUrl];
    texts.forEach((text, i) => {
      if (text === null) return;
      const buffer = wide(text);
      strings.push(buffer);
      ov.setBigUint64((i + 1) * OPTION_SIZE + 8, pointerOf(buffer), true);
    });
  }
  const list = new Uint8Array(LIST_SIZE);
  const lv = new DataView(list.buffer);
  lv.setUint32(0, LIST_SIZE, true);
  if (connection !== null) {
    const name = wide(connection);
    strings.push(name);
    lv.setBigUint64(8, pointerOf(name), true);
  }
  lv.setUint32(16, ids.length, true);
  lv.setBigUint64(24, pointerOf(options), true);
  return { list, options, strings };
}

/** The real per-connection settings, through wininet.dll and rasapi32.dll. */
export const ffiConnections: ConnectionOptions = {
  rasEntries(): string[] {
    const { RasEnumEntriesW } = lib("rasapi32").symbols;
    let capacity = 16;
    for (let attempt = 0; attempt < 4; attempt++) {
      const entries = new Uint8Array(RASENTRYNAME_SIZE * capacity);
      const view = new DataView(entries.buffer);
      view.setUint32(0, RASENTRYNAME_SIZE, true);
      const bytes = new Uint32Array([entries.byteLength]);
      const count = new Uint32Array(1);
      const code = RasEnumEntriesW(
        null,
        null,
        entries,
        new Uint8Array(bytes.buffer),
        new Uint8Array(count.buffer),
      );
      if (code === ERROR_BUFFER_TOO_SMALL) {
        capacity = Math.ceil(bytes[0] / RASENTRYNAME_SIZE) + 1;
        continue;
      }
      if (code !== 0) throw new WinInetError(`RasEnumEntriesW failed with error ${code}`);
      const names: string[] = [];
      for (let i = 0; i < count[0]; i++) {
        const base = i * RASENTRYNAME_SIZE + 4;
        let name = "";
        for (let c = 0; c < RAS_ENTRY_NAME_CHARS; c++) {
          const unit = view.getUint16(base + c * 2, true);
          if (unit === 0) break;
          name += String.fromCharCode(unit);
        }
        names.push(name);
      }
      return names;
    }
    throw new WinInetError("RasEnumEntriesW kept asking for a larger buffer");
  },

  get(connection: ConnectionName): ConnectionSettings {
    const { list, options, strings } = optionList(connection);
    const size = new Uint32Array([LIST_SIZE]);
    const ok = lib("wininet").symbols.InternetQueryOptionW(
      null,
      INTERNET_OPTION_PER_CONNECTION_OPTION,
      list,
      new Uint8Array(size.buffer),
    );
    void strings;
    if (ok === 0) {
      throw new WinInetError(
        `InternetQueryOption(PER_CONNECTION_OPTION) for ${connectionLabel(connection)} failed ` +
          `with Windows error ${openKernel32().symbols.GetLastError()}`,
      );
    }
    const ov = new DataView(options.buffer);
    const text = (i: number): string | null => {
      const raw = ov.getBigUint64(i * OPTION_SIZE + 8, true);
      const pointer = Deno.UnsafePointer.create(raw);
      if (pointer === null) return null;
      const value = readWide(pointer);
      openKernel32().symbols.GlobalFree(pointer);
      return value;
    };
    return {
      flags: ov.getUint32(8, true),
      proxyServer: text(1),
      bypass: text(2),
      autoConfigUrl: text(3),
    };
  },

  set(connection: ConnectionName, settings: ConnectionSettings): void {
    const { list, options, strings } = optionList(connection, settings);
    const ok = lib("wininet").symbols.InternetSetOptionW(
      null,
      INTERNET_OPTION_PER_CONNECTION_OPTION,
      list,
      LIST_SIZE,
    );
    void options, strings;
    if (ok === 0) {
      throw new WinInetError(
        `InternetSetOption(PER_CONNECTION_OPTION) for ${connectionLabel(connection)} failed ` +
          `with Windows error ${openKernel32().symbols.GetLastError()}`,
      );
    }
  },
};
