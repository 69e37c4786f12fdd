/**
 * "Try the multiplexed tunnel; where the server refuses it, one WebSocket per connection", as one
 * small composable piece, the way client-go's `fallback_dialer.go` composes its tunnelling and
 * SPDY dialers: a primary, a secondary and the test that says a failure means "fall back".
 *
 * Unlike client-go it remembers: a server that refused the tunnel once will not start offering
 * it, and asking again would cost every connection a refused upgrade. The fall-back is reported
 * once, with the reason.
 * @module
 */
import type { Upstream } from "../net/upstream.ts";
import type { PodTarget } from "./target.ts";

/** Anything that opens a pod port as an upstream. */
export interface UpstreamOpener {
  open(target: PodTarget): Promise<Upstream>;
}

export class FallbackOpener implements UpstreamOpener {
  #fellBack = false;

  constructor(
    readonly primary: UpstreamOpener,
    readonly secondary: UpstreamOpener,
    /** Whether the primary's failure means "use the secondary" (rather than a real failure). */
    readonly shouldFallBack: (e: unknown) => boolean,
    /** Told once, when the first fall-back happened, with the primary's failure. */
    readonly onFallBack: (reason: unknown) => void = () => {},
  ) {}

  /** Whether connections go to the secondary now. */
  get fellBack(): boolean {
    return this.#fellBack;
  }

  async open(target: PodTarget): Promise<Upstream> {
    if (this.#fellBack) return await this.secondary.open(target);
    try {
      return await this.primary.open(target);
    } catch (e) {
      if (!this.shouldFallBack(e)) throw e;
      // Only a working secondary confirms the choice: its failure is the client's answer.
      const upstream = await this.secondary.open(target);
      if (!this.#fellBack) {
        this.#fellBack = true;
        this.onFallBack(e);
      }
      return upstream;
    }
  }
}
