/**
 * What ktctl's PAC file answers outside the cluster, kept current: the previous configuration
 * (an {@link UpstreamConfig}) as a {@link PacPrevious}. A previous PAC file (its URL, or the one
 * automatic detection finds) is fetched at start (waited for up to 3 s) and every 5 minutes, as
 * text only: ktctl never runs it, the browser does, inside ktctl's PAC (`src/front/http/pac.ts`).
 * A failed refresh keeps the last good text; a script never fetched leaves the fallback (the
 * manual proxy, else DIRECT).
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { UpstreamConfig } from "../net/proxy_config.ts";
import type { PacPrevious } from "../front/http/pac.ts";

const log = getLogger(["ktctl", "pac"]);

/** The largest PAC file taken (company PAC files are a few KiB). */
export const MAX_PAC_BYTES = 1 << 20;
const REFRESH_MS = 5 * 60_000;
const FETCH_TIMEOUT_MS = 10_000;
const FIRST_FETCH_MS = 3_000;

/** The PAC answer for a fixed or no proxy; undefined for the script kinds. */
export function staticPrevious(config: UpstreamConfig | undefined): PacPrevious {
  if (config?.kind === "fixed") return { ...config };
  if (config?.kind === "auto-detect" && config.fallback) return staticPrevious(config.fallback);
  return { kind: "direct" };
}

/** Fetches a PAC file's text (http/https only), within a size and time limit. */
export async function fetchPacText(url: string): Promise<string> {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new Error(`only http and https PAC URLs are fetched, not ${parsed.protocol}`);
  }
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`HTTP ${response.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > MAX_PAC_BYTES) throw new Error(`larger than ${MAX_PAC_BYTES} bytes`);
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) bytes.set(chunk, at), at += chunk.byteLength;
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
}

/** Keeps the previous configuration's PAC answer current (see the module doc). */
export class PreviousPac {
  #current: PacPrevious;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  private constructor(
    private readonly config: UpstreamConfig | undefined,
    private readonly deps: {
      fetchText: (url: string) => Promise<string>;
      detect?: () => Promise<string | undefined>;
    },
  ) {
    this.#current = staticPrevious(config);
  }

  /** Starts; resolves once the first fetch (if any) is done, so the first PAC served has it. */
  static async start(
    config: UpstreamConfig | undefined,
    deps: {
      fetchText?: (url: string) => Promise<string>;
      detect?: () => Promise<string | undefined>;
    } = {},
  ): Promise<PreviousPac> {
    const pac = new PreviousPac(config, { ...deps, fetchText: deps.fetchText ?? fetchPacText });
    if (config?.kind === "pac" || config?.kind === "auto-detect") {
      // The first fetch delays the start by at most FIRST_FETCH_MS (a company PAC server that
      // does not answer must not hold connect up); it goes on in the background after that.
      let wait: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        pac.refresh(),
        new Promise((resolve) => wait = setTimeout(resolve, FIRST_FETCH_MS)),
      ]);
      clearTimeout(wait);
      const timer = setInterval(() => void pac.refresh(), REFRESH_MS);
      Deno.unrefTimer(timer);
      pac.#timer = timer;
    }
    return pac;
  }

  /** What the PAC file answers outside the cluster now. */
  current(): PacPrevious {
    return this.#current;
  }

  /** Fetches the previous PAC file again. */
  async refresh(): Promise<void> {
    const config = this.config;
    let url: string | undefined;
    if (config?.kind === "pac") url = config.url;
    if (config?.kind === "auto-detect") {
      url = await this.deps.detect?.().catch(() => undefined) ?? config.pacUrl;
    }
    if (!url || this.#stopped) return;
    try {
      const text = await this.deps.fetchText(url);
      if (this.#stopped) return;
      const now = this.#current;
      // A new object only when something changed: the PAC is rendered again for a new one.
      if (now.kind !== "script" || now.text !== text || now.url !== url) {
        this.#current = { kind: "script", url, text, fallback: staticPrevious(config) };
      }
      log.debug("Fetched the previous PAC file {url} ({bytes} characters)", {
        url,
        bytes: text.length,
      });
    } catch (error) {
      log.warn(
        "Could not fetch the previous PAC file {url} ({error}); {what}",
        {
          url,
          error: (error as Error).message,
          what: this.#current.kind === "script"
            ? "the PAC keeps the last copy"
            : "the PAC answers with the fallback until it can be fetched",
        },
      );
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }
}
