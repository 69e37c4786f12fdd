/**
 * Bounded waits. Every step of opening a tunnel (TCP, proxy CONNECT, TLS, upgrade, the first
 * frames) runs under {@link withDeadline}, so a server that stops answering half-way gives the
 * client a "timeout" failure whose message names the step, instead of a connection that hangs.
 * @module
 */
import { DialError } from "./upstream.ts";

export interface DeadlineOptions<T> {
  /** Called with a result that arrives after the deadline (a socket nobody will use). */
  dispose?: (late: T) => void;
  /** Called when the deadline passes: stops the work (closing a socket ends a pending read). */
  onTimeout?: () => void;
}

/**
 * Runs `work` with `ms` to finish; when the time passes, the signal aborts, `onTimeout` runs and
 * the result is a DialError of kind "timeout" naming `step`. A failure of `work` after that is
 * ignored.
 */
export async function withDeadline<T>(
  step: string,
  ms: number,
  work: (signal: AbortSignal) => Promise<T>,
  opts: DeadlineOptions<T> = {},
): Promise<T> {
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new DialError("timeout", `${step}: no answer within ${ms} ms`);
      abort.abort(error);
      opts.onTimeout?.();
      reject(error);
    }, ms);
  });
  const running = work(abort.signal);
  running.then((late) => abort.signal.aborted && opts.dispose?.(late), () => {});
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves at the first of `events` to settle, or after `ms`; true if the time ran out. */
export async function raceTimeout(ms: number, ...events: Promise<unknown>[]): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<boolean>((r) => timer = setTimeout(() => r(true), ms));
  try {
    return await Promise.race([...events.map((e) => e.then(() => false, () => false)), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
