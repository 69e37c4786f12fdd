/**
 * The one admission verdict: whether a connection may be served, who its peer is, and the
 * client program where the peer-owner lookup found it. The listener asks once per connection, at
 * accept, before any byte is read; `front/dialer.ts` re-exports these types for the fronts.
 * @module
 */

/** Whether a connection may be served: decided once per connection, at accept. */
export interface Admission {
  allowed: boolean;
  /** Who the peer is or why it was refused, for the log. */
  detail: string;
  /** The client program, where the peer-owner lookup found it (for the live view and the log). */
  program?: { name: string; pid: number };
  /**
   * The client program, still being looked up (Linux: a search of `/proc/PID/fd` that can take
   * up to its work budget on a machine with many open sockets). The connection is served
   * meanwhile: a name is for the log and the live view, never a reason to make a client wait.
   */
  naming?: Promise<{ name: string; pid: number } | undefined>;
}

/** Decides a connection's admission; `close` releases what it holds, when the listener closes. */
export type AdmissionCheck = ((local: Deno.NetAddr, remote: Deno.NetAddr) => Promise<Admission>) & {
  close?(): void;
};
