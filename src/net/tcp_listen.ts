/**
 * Listening on a TCP port, shared by the proxy's listener and the forwards': binding with an
 * error that says which address is taken, and the back-off between failed accepts. An accept
 * that fails for lack of descriptors (EMFILE) leaves the connection queued, so retrying at once
 * would spin a core writing the same error; the delay doubles from 5 ms to 1 s and resets on the
 * next accept that works.
 * @module
 */

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
