/**
 * What a failed port-forward means to the user, shared by both transports: the text the server
 * sent, turned into an {@link DialError} whose kind picks the SOCKS reply.
 * @module
 */
import { DialError } from "../net/upstream.ts";

/** The failure for a stream that ended before the port was announced. */
export function setupFailure(errorText: string): DialError {
  const text = errorText.trim();
  return new DialError(
    !text || /refused/i.test(text) ? "refused" : "failed",
    text || "the pod side closed before the stream was set up (nothing listens on the port?)",
  );
}

/** The failure the error channel's text stands for, once the stream was up. */
export function streamFailure(errorText: string): DialError {
  const text = errorText.trim();
  return new DialError(/refused/i.test(text) ? "refused" : "failed", text);
}

/**
 * After the client half-closes, closes the stream once the pod has been silent for `ms`:
 * port-forward cannot pass the half-close on, and a client that closed fully looks the same.
 */
export class SilenceTimer {
  #timer: ReturnType<typeof setTimeout> | undefined;
  constructor(readonly ms: number, readonly onSilence: () => void) {}

  /** Starts (or restarts) the countdown. */
  arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(this.onSilence, this.ms);
  }

  /** The pod spoke: restart the countdown if it is running. */
  touch(): void {
    if (this.#timer !== undefined) this.arm();
  }

  /** Ends the countdown for good: a later touch() does not restart it. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export function httpFailure(status: number, body: string, what: string): DialError {
  let message = body.trim();
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? message;
  } catch { /* not a Status */ }
  const kind = status === 404
    ? "not-found"
    : status === 401 || status === 403
    ? "forbidden"
    : "unreachable";
  return new DialError(
    kind,
    `port-forward to ${what} refused by the API server (${status}): ${message.slice(0, 300)}`,
  );
}
