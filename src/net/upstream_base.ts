/**
 * The parts every {@link Upstream} had rebuilt for itself: the closed promise, the error text a
 * server sent (bounded: it is untrusted), the silence timer a half-close arms, and the rewrap of
 * a failure that names the upstream and keeps the original as `cause`.
 * @module
 */
import { DialError, type Upstream } from "./upstream.ts";

/** Error text kept from a server, at most. */
const MAX_ERROR_TEXT = 4096;

/**
 * After the client half-closes, fires once the far side has been silent for `ms`: port-forward
 * cannot always pass the half-close on, and a client that closed fully looks the same.
 */
export class SilenceTimer {
  #timer: ReturnType<typeof setTimeout> | undefined;
  constructor(readonly ms: number, readonly onSilence: () => void) {}

  /** Starts (or restarts) the countdown. */
  arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(this.onSilence, this.ms);
  }

  /** The far side spoke: restart the countdown if it is running. */
  touch(): void {
    if (this.#timer !== undefined) this.arm();
  }

  /** Ends the countdown for good: a later touch() does not restart it. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export abstract class UpstreamBase implements Upstream {
  #markClosed = () => {};
  #errorText = "";
  readonly closed = new Promise<void>((r) => this.#markClosed = r);
  /** Armed by a half-close (when `graceMs` was given); closes the upstream on silence. */
  protected readonly grace: SilenceTimer | undefined;
  abstract readonly halfDuplexEnd: boolean;

  constructor(readonly description: string, graceMs?: number) {
    this.grace = graceMs === undefined ? undefined : new SilenceTimer(graceMs, () => this.close());
  }

  /** What the server said went wrong so far. */
  protected get errorText(): string {
    return this.#errorText;
  }

  /** Keeps server error text, up to a bound. */
  protected noteError(text: string): void {
    if (this.#errorText.length < MAX_ERROR_TEXT) {
      this.#errorText = (this.#errorText + text).slice(0, MAX_ERROR_TEXT);
    }
  }

  /** Settles `closed` and stops the silence timer; for close() and a far-side end. */
  protected markClosed(): void {
    this.grace?.stop();
    this.#markClosed();
  }

  /** A failure of this upstream, named, with the original kept as `cause`. */
  protected failure(e: unknown, kind: DialError["kind"] = "failed"): DialError {
    return rewrap(e, this.description, kind);
  }

  abstract read(): Promise<Uint8Array | null>;
  abstract buffer(size: number): Uint8Array;
  abstract write(length: number): Promise<void>;
  abstract endWrite(): Promise<void>;
  abstract close(): void;
}

/**
 * `e` as a DialError whose message starts with `what`; a DialError keeps its kind, anything else
 * gets `kind`. The original is the `cause` either way.
 */
export function rewrap(e: unknown, what: string, kind: DialError["kind"] = "failed"): DialError {
  const message = e instanceof Error ? e.message : String(e);
  return new DialError(e instanceof DialError ? e.kind : kind, `${what}: ${message}`, { cause: e });
}
