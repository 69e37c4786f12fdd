/**
 * An echo server on loopback: stands in for a pod's port in tests of the listeners (every byte
 * a client sends comes back).
 */
import { closeQuietly, writeAll } from "../../src/net/io.ts";

export function echoServer(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(4096);
        try {
          for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
            await writeAll(conn, buf.subarray(0, n));
          }
        } catch { /* the client went */ }
        closeQuietly(conn);
      })();
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => closeQuietly(listener) };
}
