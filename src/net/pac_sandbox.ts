/**
 * The portable {@link PacEvaluator}: a company's PAC file runs in a Deno Worker with no
 * permissions at all (`deno.permissions: "none"`: no network, files, environment or
 * subprocesses; needs `--unstable-worker-options`, set in deno.json), so a script from the
 * network never gets ktctl's rights. The Worker's module is a string (a data: URL), so the
 * bundle and the compiled binary carry it.
 *
 * PAC's DNS functions (`dnsResolve`, `isResolvable`, `isInNet` on a name, `myIpAddress`) are
 * synchronous and the Worker may not resolve: as Chromium's tracing resolver does, a call whose
 * answer is not known yet stops the evaluation, ktctl resolves the name, and the evaluation is
 * run again with the answer (at most 8 times). An evaluation that does not finish within 2 s
 * (a script that loops) answers DIRECT, as a browser falls back, and the script is not used
 * again: Deno 2.9.6's `terminate()` does not stop a Worker spinning in `while (true) {}`
 * (tried: the process then cannot exit by itself), so one such thread is the most it can cost.
 *
 * Chosen over npm `pac-resolver` 7.0.1 (+ `@tootallnate/quickjs-emscripten` 0.23, which it needs;
 * 9.0.1 failed under Deno 2.9.6 with "vm.newString is not a function"): that works (tried: ~0.28
 * ms per evaluation, 30 ms to load QuickJS, 41 ms to compile a script, on this shared machine,
 * not a benchmark) but adds five npm packages and a WebAssembly file the bundle would
 * have to carry, and its `myIpAddress` opens a socket to 8.8.8.8.
 * @module
 */
import { lookupV4 } from "./system_resolver.ts";
import type { PacEvaluator } from "./proxy_config.ts";
import { canonicalIp } from "./ip.ts";
import { withoutEnvProxies } from "./api_proxy.ts";

/** The PAC helper functions (Netscape's list, as browsers implement them) and the runner. */
const WORKER_SOURCE = `
"use strict";
let answers = {};
class NeedDns { constructor(name) { this.name = name; } }
function lookupName(host) {
  host = String(host).toLowerCase();
  if (/^\\d{1,3}(\\.\\d{1,3}){3}$/.test(host)) return host;
  if (!(host in answers)) throw new NeedDns(host);
  return answers[host];
}
function ipToInt(ip) {
  const p = String(ip).split(".");
  if (p.length !== 4) return null;
  let n = 0;
  for (const x of p) { const v = Number(x); if (!/^\\d+$/.test(x) || v > 255) return null; n = n * 256 + v; }
  return n;
}
const helpers = {
  isPlainHostName: (h) => !String(h).includes("."),
  dnsDomainIs: (h, d) => String(h).toLowerCase().endsWith(String(d).toLowerCase()),
  localHostOrDomainIs: (h, hd) => { h = String(h).toLowerCase(); hd = String(hd).toLowerCase();
    return h === hd || (!h.includes(".") && hd.startsWith(h + ".")); },
  isResolvable: (h) => lookupName(h) !== null,
  isResolvableEx: (h) => lookupName(h) !== null,
  dnsResolve: (h) => lookupName(h),
  dnsResolveEx: (h) => lookupName(h) ?? "",
  myIpAddress: () => answers["\\u0000self"] ?? "127.0.0.1",
  myIpAddressEx: () => answers["\\u0000self"] ?? "127.0.0.1",
  isInNet: (h, pat, mask) => { const ip = lookupName(h); if (ip === null) return false;
    const a = ipToInt(ip), p = ipToInt(pat), m = ipToInt(mask);
    if (a === null || p === null || m === null) return false;
    return ((a & m) >>> 0) === ((p & m) >>> 0); },
  dnsDomainLevels: (h) => String(h).split(".").length - 1,
  shExpMatch: (s, pat) => new RegExp("^" + String(pat).replace(/[.+^\${}()|[\\]\\\\]/g, "\\\\$&")
    .replace(/\\*/g, ".*").replace(/\\?/g, ".") + "$").test(String(s)),
  weekdayRange: (a, b, gmt) => { const days = ["SUN","MON","TUE","WED","THU","FRI","SAT"];
    const now = new Date(); const d = (gmt === "GMT" || b === "GMT") ? now.getUTCDay() : now.getDay();
    const s = days.indexOf(String(a).toUpperCase());
    const e = (b && b !== "GMT") ? days.indexOf(String(b).toUpperCase()) : s;
    return s <= e ? d >= s && d <= e : d >= s || d <= e; },
  dateRange: () => false,
  timeRange: () => false,
  alert: () => {},
  convert_addr: (ip) => ipToInt(ip) ?? 0,
};
let find = null;
self.onmessage = (e) => {
  const m = e.data;
  try {
    if (m.script !== undefined) {
      const names = Object.keys(helpers);
      const make = new Function(...names,
        m.script + "\\n;return typeof FindProxyForURL === 'function' ? FindProxyForURL : null;");
      find = make(...names.map((n) => helpers[n]));
      if (!find) throw new Error("the PAC file defines no FindProxyForURL function");
      self.postMessage({ id: m.id, ok: true });
      return;
    }
    answers = m.answers;
    self.postMessage({ id: m.id, answer: String(find(m.url, m.host)) });
  } catch (err) {
    if (err instanceof NeedDns) self.postMessage({ id: m.id, need: err.name });
    else self.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
};
`;

const EVAL_MS = 2_000;
const MAX_RESTARTS = 8;
const DNS_MS = 2_000;

/** Fetches a PAC file's text (bounded: 1 MiB, 10 s). */
export type PacFetcher = (url: string) => Promise<string>;

export interface PacSandboxOptions {
  /** Resolves a name to one IPv4 address or null (default: the system resolver). */
  resolve?: (host: string) => Promise<string | null>;
  /** This machine's address for `myIpAddress()` (default: the first non-loopback IPv4). */
  myIp?: () => string;
  fetchScript?: PacFetcher;
  /** Logs a failure (the evaluation then answers DIRECT). */
  onError?: (message: string) => void;
}

/** A PacEvaluator for the PAC file at `url` (fetched once, on first use). */
export function pacSandbox(url: string, o: PacSandboxOptions = {}): PacEvaluator {
  return new SandboxedPac(() => (o.fetchScript ?? fetchPac)(url), o);
}

/** A PacEvaluator for a script given as text (tests, and a script fetched by someone else). */
export function pacSandboxFromText(script: string, o: PacSandboxOptions = {}): PacEvaluator {
  return new SandboxedPac(() => Promise.resolve(script), o);
}

class SandboxedPac implements PacEvaluator {
  #worker: Worker | undefined;
  #ready: Promise<void> | undefined;
  #next = 0;
  #waiting = new Map<number, (data: Record<string, unknown>) => void>();
  #dns = new Map<string, string | null>();
  #script: Promise<string> | undefined;
  #closed = false;
  /** Why the script is no longer used (it did not answer in time). */
  #broken: string | undefined;

  constructor(readonly load: () => Promise<string>, readonly o: PacSandboxOptions) {}

  async find(url: string, host: string): Promise<string> {
    try {
      return await this.#find(url, host);
    } catch (e) {
      this.o.onError?.(`PAC evaluation for ${host} failed (${(e as Error).message}): DIRECT`);
      return "DIRECT";
    }
  }

  async #find(url: string, host: string): Promise<string> {
    if (this.#broken) return "DIRECT";
    await this.#start();
    if (!this.#dns.has("\u0000self")) this.#dns.set("\u0000self", (this.o.myIp ?? myIp)());
    for (let i = 0; i <= MAX_RESTARTS; i++) {
      const reply = await this.#ask({ url, host, answers: Object.fromEntries(this.#dns) });
      if (typeof reply.answer === "string") return reply.answer;
      if (typeof reply.need === "string") {
        this.#dns.set(reply.need, await this.#resolve(reply.need));
        continue;
      }
      throw new Error(String(reply.error ?? "no answer"));
    }
    throw new Error(`the script asked for more than ${MAX_RESTARTS} names`);
  }

  async #resolve(name: string): Promise<string | null> {
    const resolve = this.o.resolve ?? resolveV4;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        resolve(name),
        new Promise<null>((r) => timer = setTimeout(() => r(null), DNS_MS)),
      ]);
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  #start(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("closed"));
    return this.#ready ??= (async () => {
      this.#script ??= this.load();
      const script = await this.#script;
      this.#worker = new Worker(
        `data:text/javascript;base64,${btoa(WORKER_SOURCE)}`,
        { type: "module", deno: { permissions: "none" } } as WorkerOptions,
      );
      this.#worker.onmessage = (e) => {
        const data = e.data as Record<string, unknown>;
        const done = this.#waiting.get(data.id as number);
        this.#waiting.delete(data.id as number);
        done?.(data);
      };
      this.#worker.onerror = (e) => {
        e.preventDefault();
        this.#fail(new Error(e.message));
      };
      const loaded = await this.#ask({ script });
      if (!loaded.ok) throw new Error(String(loaded.error ?? "the PAC file did not load"));
    })().catch((e) => {
      this.#reset();
      throw e;
    });
  }

  #ask(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        this.#broken = `no answer within ${EVAL_MS} ms`;
        this.#reset();
        reject(new Error(`${this.#broken}: the PAC file is not used any more`));
      }, EVAL_MS);
      this.#waiting.set(id, (data) => {
        clearTimeout(timer);
        resolve(data);
      });
      this.#worker!.postMessage({ id, ...message });
    });
  }

  #fail(e: Error): void {
    for (const done of this.#waiting.values()) done({ error: e.message });
    this.#waiting.clear();
    this.#reset();
  }

  #reset(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#ready = undefined;
  }

  close(): void {
    this.#closed = true;
    this.#fail(new Error("closed"));
  }
}

async function resolveV4(host: string): Promise<string | null> {
  return canonicalIp(await lookupV4(host)) ?? null;
}

function myIp(): string {
  try {
    const v4 = Deno.networkInterfaces().find((i) =>
      i.family === "IPv4" && !i.address.startsWith("127.")
    );
    return v4?.address ?? "127.0.0.1";
  } catch {
    return "127.0.0.1";
  }
}

const MAX_PAC_BYTES = 1024 * 1024;

/**
 * GETs the PAC file directly (never through a proxy variable: the script is what says where the
 * proxies are), bounded in time and size.
 */
export async function fetchPac(url: string): Promise<string> {
  const client = withoutEnvProxies(new URL(url).hostname, () => Deno.createHttpClient({}));
  try {
    const response = await fetch(url, { client, signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
    const body = new Uint8Array(await response.arrayBuffer());
    if (body.length > MAX_PAC_BYTES) throw new Error(`the PAC file ${url} is over 1 MiB`);
    return new TextDecoder().decode(body);
  } finally {
    client.close();
  }
}
