/**
 * PAC files and WPAD evaluated the way Windows does, by WinHTTP (`WinHttpGetProxyForUrl`): the
 * script runs in Windows' own sandboxed engine, never with ktctl's permissions, and "automatically
 * detect settings" (DHCP, then DNS `wpad`) is Windows' own. Each call runs on a thread of its own
 * (FFI `nonblocking`), since fetching and evaluating a script can take seconds; answers are cached
 * per scheme and host for a minute, as px does. Windows only (`--allow-ffi`).
 * @module
 */
import type { PacEvaluator, UpstreamConfig } from "../net/proxy_config.ts";
import { type Kernel32, openKernel32 } from "./kernel32.ts";
import { readWide, wide } from "./utf16.ts";

const WINHTTP_ACCESS_TYPE_NO_PROXY = 1;
const WINHTTP_ACCESS_TYPE_NAMED_PROXY = 3;
const WINHTTP_AUTOPROXY_AUTO_DETECT = 1;
const WINHTTP_AUTOPROXY_CONFIG_URL = 2;
const WINHTTP_AUTO_DETECT_TYPE_DHCP = 1;
const WINHTTP_AUTO_DETECT_TYPE_DNS_A = 2;
/** sizeof(WINHTTP_AUTOPROXY_OPTIONS) and (WINHTTP_PROXY_INFO) on x64. */
const OPTIONS_SIZE = 32;
const INFO_SIZE = 24;
const CACHE_MS = 60_000;
const CACHE_MAX = 1000;

const SYMBOLS = {
  winhttp: {
    WinHttpOpen: { parameters: ["buffer", "u32", "pointer", "pointer", "u32"], result: "pointer" },
    WinHttpCloseHandle: { parameters: ["pointer"], result: "i32" },
    WinHttpGetProxyForUrl: {
      parameters: ["pointer", "buffer", "buffer", "buffer"],
      result: "i32",
      nonblocking: true,
    },
    WinHttpDetectAutoProxyConfigUrl: {
      parameters: ["u32", "buffer"],
      result: "i32",
      nonblocking: true,
    },
  },
} as const;

type Libraries = {
  winhttp: Deno.DynamicLibrary<typeof SYMBOLS.winhttp>;
  kernel32: Kernel32;
};
let opened: Libraries | undefined;

function libs(): Libraries {
  return opened ??= {
    winhttp: Deno.dlopen("winhttp.dll", SYMBOLS.winhttp),
    kernel32: openKernel32(),
  };
}

/**
 * WinHTTP's proxy list (`a:1;b:2`, `http=a:1`, `DIRECT` entries) as a PAC answer
 * (`PROXY a:1; PROXY b:2`). Pure. WinHTTP never returns SOCKS entries.
 */
export function winHttpAnswer(accessType: number, proxy: string | null): string {
  if (accessType !== WINHTTP_ACCESS_TYPE_NAMED_PROXY || !proxy) return "DIRECT";
  const parts = proxy.split(/[;\s]+/).filter((p) => p !== "").map((entry) => {
    if (entry.toUpperCase() === "DIRECT") return "DIRECT";
    const value = entry.includes("=") ? entry.slice(entry.indexOf("=") + 1) : entry;
    return `PROXY ${value.replace(/^https?:\/\//i, "")}`;
  });
  return parts.length > 0 ? parts.join("; ") : "DIRECT";
}

/** What to evaluate: a PAC URL, automatic detection, or both (detection first, as Windows). */
export interface WinHttpPacOptions {
  pacUrl?: string;
  autoDetect?: boolean;
  /** The answer when no script can be found or run (Windows then uses the manual proxy). */
  fallback?: string;
}

/** A {@link PacEvaluator} backed by `WinHttpGetProxyForUrl` (see the module doc). */
export function winHttpPacEvaluator(options: WinHttpPacOptions): PacEvaluator {
  const { winhttp, kernel32 } = libs();
  const session = winhttp.symbols.WinHttpOpen(
    wide("ktctl"),
    WINHTTP_ACCESS_TYPE_NO_PROXY,
    null,
    null,
    0,
  );
  if (session === null) throw new Error("WinHttpOpen failed");
  const cache = new Map<string, { answer: string; until: number }>();
  const pacUrl = options.pacUrl ? wide(options.pacUrl) : undefined;
  let closed = false;
  return {
    async find(url: string, host: string): Promise<string> {
      if (closed) throw new Error("the WinHTTP PAC evaluator is closed");
      const key = `${url.slice(0, url.indexOf(":"))}|${host.toLowerCase()}`;
      const hit = cache.get(key);
      if (hit && hit.until > Date.now()) return hit.answer;
      const opts = new Uint8Array(OPTIONS_SIZE);
      const ov = new DataView(opts.buffer);
      ov.setUint32(
        0,
        (options.autoDetect ? WINHTTP_AUTOPROXY_AUTO_DETECT : 0) |
          (pacUrl ? WINHTTP_AUTOPROXY_CONFIG_URL : 0),
        true,
      );
      if (options.autoDetect) {
        ov.setUint32(4, WINHTTP_AUTO_DETECT_TYPE_DHCP | WINHTTP_AUTO_DETECT_TYPE_DNS_A, true);
      }
      if (pacUrl) {
        ov.setBigUint64(
          8,
          BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(pacUrl))),
          true,
        );
      }
      const info = new Uint8Array(INFO_SIZE);
      const ok = await winhttp.symbols.WinHttpGetProxyForUrl(session, wide(url), opts, info);
      const iv = new DataView(info.buffer);
      const text = (offset: number) => {
        const pointer = Deno.UnsafePointer.create(iv.getBigUint64(offset, true));
        if (pointer === null) return null;
        const value = readWide(pointer);
        kernel32.symbols.GlobalFree(pointer);
        return value;
      };
      const proxy = text(8);
      text(16); // the bypass list: freed, not needed (the script already applied it)
      const answer = ok !== 0
        ? winHttpAnswer(iv.getUint32(0, true), proxy)
        : options.fallback ?? "DIRECT";
      if (cache.size >= CACHE_MAX) cache.clear();
      cache.set(key, { answer, until: Date.now() + CACHE_MS });
      return answer;
    },
    close() {
      if (closed) return;
      closed = true;
      winhttp.symbols.WinHttpCloseHandle(session);
    },
  };
}

/** The PAC URL that automatic detection (WPAD: DHCP, then DNS) finds, if any. */
export async function detectAutoProxyConfigUrl(): Promise<string | undefined> {
  const { winhttp, kernel32 } = libs();
  const out = new BigUint64Array(1);
  const ok = await winhttp.symbols.WinHttpDetectAutoProxyConfigUrl(
    WINHTTP_AUTO_DETECT_TYPE_DHCP | WINHTTP_AUTO_DETECT_TYPE_DNS_A,
    new Uint8Array(out.buffer),
  );
  const pointer = Deno.UnsafePointer.create(out[0]);
  if (ok === 0 || pointer === null) return undefined;
  const url = readWide(pointer);
  kernel32.symbols.GlobalFree(pointer);
  return url;
}

/**
 * The evaluator for a previous configuration that needs one (a PAC file, automatic detection),
 * for routing on Windows; undefined for fixed proxies and none, which need no script. With
 * automatic detection and a manual proxy behind it, the manual proxy's catch-all answers when no
 * script is found (as Windows does).
 */
export function winHttpEvaluatorFor(config: UpstreamConfig): PacEvaluator | undefined {
  if (config.kind === "pac") return winHttpPacEvaluator({ pacUrl: config.url });
  if (config.kind !== "auto-detect") return undefined;
  const fixed = config.fallback?.kind === "fixed" ? config.fallback : undefined;
  const fallbackProxy = fixed?.other ?? fixed?.http;
  return winHttpPacEvaluator({
    autoDetect: true,
    pacUrl: config.pacUrl,
    fallback: fallbackProxy
      ? `PROXY ${
        fallbackProxy.host.includes(":") ? `[${fallbackProxy.host}]` : fallbackProxy.host
      }:${fallbackProxy.port}`
      : undefined,
  });
}
