/**
 * The far side of a proxied connection, whatever carries it: a pod port-forward WebSocket or a
 * plain TCP connection made from this machine. The pipe (`pipe.ts`) only knows this interface.
 * @module
 */

export interface Upstream {
  /**
   * Next chunk from the far side, or null once it has ended. Throws if it failed. The chunk may
   * be lent from the upstream's buffers: valid until the next read(), so a caller that keeps it
   * longer copies it.
   */
  read(): Promise<Uint8Array | null>;
  /**
   * Space for the next chunk the pipe will read from the client. Returning the upstream's own
   * buffer lets it frame data without copying.
   */
  buffer(size: number): Uint8Array;
  /** Sends the first `length` bytes of the last `buffer()`; resolves when more may be sent. */
  write(length: number): Promise<void>;
  /** The client will send no more; the far side may still answer. */
  endWrite(): Promise<void>;
  /** Settles once the upstream has ended, however it ended. */
  readonly closed: Promise<void>;
  /** Tears everything down. Idempotent. */
  close(): void;
  /**
   * Whether the far side can still take data after it has ended its own: true for TCP
   * half-close, false for a port-forward WebSocket, whose end closes both ways.
   */
  readonly halfDuplexEnd: boolean;
  /** What the upstream is, for logs. */
  readonly description: string;
}

/**
 * Why a destination could not be reached. Each front maps the kind to its own answer (a SOCKS
 * reply code, an HTTP status), so no layer matches on message text.
 */
export type DialFailure =
  /** A cluster name (or an address in the cluster's ranges) that matches nothing, or a name no resolver knows. */
  | "unknown-host"
  /** A service with no ready endpoint. */
  | "no-endpoints"
  /** A service that does not have the port asked for. */
  | "no-port"
  /** The pod or host refused the port. */
  | "refused"
  | "unreachable"
  /** The pod the port-forward was for no longer exists. */
  | "not-found"
  /** The cluster refused the port-forward (RBAC, credentials). */
  | "forbidden"
  /** The user's own direct-dial policy does not allow the destination. */
  | "policy"
  | "timeout"
  | "failed";

/** A failure to open or keep an upstream, with a kind each front can answer in its own words. */
export class DialError extends Error {
  override name = "DialError";
  constructor(readonly kind: DialFailure, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
