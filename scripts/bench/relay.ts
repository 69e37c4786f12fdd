/**
 * A loopback TCP relay that counts the bytes flowing each way, put between ktctl and the API
 * server so that the benchmark can say how much ktctl read from the API server (TLS passes
 * through untouched: the relay sees only ciphertext, which is what crossed the wire).
 * @module
 */

export interface CountingRelay {
  port: number;
  /** Bytes sent by the upstream (the API server) to clients, so far. */
  readonly down: number;
  /** Bytes sent by clients to the upstream, so far. */
  readonly up: number;
  close(): void;
}

/** Listens on 127.0.0.1 (a free port) and relays every connection to 127.0.0.1:`target`. */
export function countingRelay(target: number): CountingRelay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const counts = { down: 0, up: 0 };
  const pump = async (from: Deno.Conn, to: Deno.Conn, dir: "down" | "up") => {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        counts[dir] += n;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch { /* either side went away */ }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* closed */ }
      conns.delete(c);
    }
  };
  (async () => {
    try {
      for await (const client of listener) {
        Deno.connect({ hostname: "127.0.0.1", port: target }).then((server) => {
          conns.add(client).add(server);
          pump(client, server, "up");
          pump(server, client, "down");
        }, () => client.close());
      }
    } catch { /* closed */ }
  })();
  return {
    port: listener.addr.port,
    get down() {
      return counts.down;
    },
    get up() {
      return counts.up;
    },
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}
