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

/** An upstream failure worth a distinct SOCKS reply or log line. */
export class UpstreamError extends Error {
  override name = "UpstreamError";
  constructor(
    readonly kind: "refused" | "unreachable" | "not-found" | "forbidden" | "timeout" | "failed",
    message: string,
  ) {
    super(message);
  }
}
