/**
 * Small byte and socket helpers shared by the SOCKS server, the tunnels, the scripts and the
 * tests.
 * @module
 */

/**
 * A byte connection read only when asked, as a Deno.Conn is: what ktctl's WebSocket client runs
 * on, whether Deno or node:tls does the TLS (see `node_tls.ts`).
 */
export interface ByteStream {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  /** True when small writes leave at once (TCP_NODELAY known to be set under it). */
  readonly noDelay?: boolean;
}

/** Writes every byte (Deno's write may take only part of a buffer). */
export async function writeAll(conn: Pick<ByteStream, "write">, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Writes, ignoring a client that has already gone: there is nobody left to tell. */
export async function writeQuietly(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  try {
    await writeAll(conn, bytes);
  } catch { /* gone */ }
}

export function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch { /* already closed */ }
}

/**
 * Makes `conn.close()` idempotent: the second and later calls do nothing, where Deno throws
 * BadResource. A client connection is closed by its session, its deadline timers and the
 * listener, in whatever order they end; building and catching that exception on every normal
 * close was measurable per connection. Returns the same object.
 */
export function closeOnce<T extends { close(): void }>(conn: T): T {
  const close = conn.close.bind(conn);
  let closed = false;
  conn.close = () => {
    if (closed) return;
    closed = true;
    close();
  };
  return conn;
}

/** Joins byte arrays into one. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
