/**
 * Listening on a TCP port, shared by the proxy's listener and the forwards': binding with an
 * error that says which address is taken, and the back-off between failed accepts. An accept
 * that fails for lack of descriptors (EMFILE) leaves the connection queued, so retrying at once
 * would spin a core writing the same error; the delay doubles from 5 ms to 1 s and resets on the
 * next accept that works.
 * @module
 */
import { closeOnce, closeQuietly } from "./io.ts";

/** Why a port could not be bound: the CLI words it (naming its flag), the rest only reports it. */
export class ListenError extends Error {
  override name = "ListenError";
  constructor(readonly kind: "in-use" | "unavailable", message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Binds `hostname:port`; throws ListenError when it is taken or cannot be used. */
export function listenTcp(hostname: string, port: number): Deno.TcpListener {
  try {
    return Deno.listen({ hostname, port });
  } catch (e) {
    const where = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    if (e instanceof Deno.errors.AddrInUse) {
      throw new ListenError("in-use", `${where} is already in use`, { cause: e });
    }
    if (e instanceof Deno.errors.AddrNotAvailable || e instanceof Deno.errors.PermissionDenied) {
      throw new ListenError("unavailable", `cannot listen on ${where} (${(e as Error).message})`, {
        cause: e,
      });
    }
    throw e;
  }
}

/** The delays between failed accepts: 5 ms doubling to 1 s; a sleep that closing cuts short. */
export class AcceptBackoff {
  static readonly FIRST_MS = 5;
  static readonly MAX_MS = 1_000;
  #delay = 0;
  #wake: (() => void) | undefined;

  /** An accept worked: the next failure starts from the first delay again. */
  reset(): void {
    this.#delay = 0;
  }

  /** Sleeps the next delay after a failed accept, or less when {@link wake} is called. */
  pause(): Promise<void> {
    this.#delay = Math.min(
      this.#delay ? this.#delay * 2 : AcceptBackoff.FIRST_MS,
      AcceptBackoff.MAX_MS,
    );
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.#delay);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Ends a pause at once (the listener is closing). */
  wake(): void {
    this.#wake?.();
  }
}

/** The default cap on connections open at once on one port (`--maxConnections`). */
export const DEFAULT_MAX_CONNECTIONS = 4096;

/** What an {@link AcceptLoop} does with what it accepts, and tells of what it refuses. */
export interface AcceptLoopOptions {
  /** The most connections open at once; more are closed as they come. */
  maxConnections: number;
  /** Serves one connection; the loop closes it when this settles. */
  handle(conn: Deno.Conn): Promise<void>;
  /** An accept failed (EMFILE...); the loop waits before the next. Rate-limit what is logged. */
  onAcceptError(error: unknown): void;
  /** A connection was closed unserved because `maxConnections` are open. */
  onFull(): void;
}

/**
 * The accept loop of a listener: back-off after failed accepts, a cap on open connections, every
 * open connection tracked so that closing the listener closes them. Both ktctl's proxy port and
 * its forwards' ports run on it, so a limit added here holds for every port ktctl opens.
 */
export class AcceptLoop {
  readonly #listener: Deno.TcpListener;
  readonly #live = new Set<Deno.Conn>();
  readonly #backoff = new AcceptBackoff();
  #serving: Promise<void> | undefined;
  #closed = false;

  constructor(listener: Deno.TcpListener) {
    this.#listener = listener;
  }

  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** Connections open now. */
  get open(): number {
    return this.#live.size;
  }

  /** Accepts until {@link close}; the same promise on every call. */
  run(opts: AcceptLoopOptions): Promise<void> {
    return this.#serving ??= (async () => {
      while (!this.#closed) {
        let conn: Deno.Conn;
        try {
          conn = await this.#listener.accept();
          this.#backoff.reset();
        } catch (e) {
          if (this.#closed) return;
          opts.onAcceptError(e);
          await this.#backoff.pause();
          continue;
        }
        if (this.#live.size >= opts.maxConnections) {
          closeQuietly(conn);
          opts.onFull();
          continue;
        }
        // Closed by the session, its timers and this loop: only the first close acts.
        closeOnce(conn);
        this.#live.add(conn);
        opts.handle(conn).catch(() => {}).finally(() => {
          this.#live.delete(conn);
          closeQuietly(conn);
        });
      }
    })();
  }

  /** Stops accepting, closes every open connection, and waits for the loop to end. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#backoff.wake();
    closeQuietly(this.#listener);
    for (const conn of this.#live) closeQuietly(conn);
    await this.#serving;
  }
}
