/**
 * Small socket helpers shared by the SOCKS server and the tunnels.
 * @module
 */

/** Writes every byte (Deno's write may take only part of a buffer). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
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
