/**
 * Loopback servers that stand in for what runs in pods, each saying who it is, so a test can
 * tell which pod a proxied connection reached.
 * @module
 */

export interface Backend {
  port: number;
  close(): Promise<void>;
}

/** An HTTP server answering `pod=<label>`, the request line and the Host header. */
export function httpBackend(label: string): Backend {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    return new Response(
      `pod=${label}\n${req.method} ${url.pathname}\nhost=${req.headers.get("host")}\n`,
    );
  });
  return { port: server.addr.port, close: () => server.shutdown() };
}

/**
 * A TCP server that reads one line `<n>\n`, waits `delayMs`, then sends `n` bytes and closes: a
 * slow answer that must still arrive after the client has half-closed.
 */
export function delayedAnswerBackend(delayMs: number): Backend {
  return tcpBackend(async (conn) => {
    let line = "";
    const buf = new Uint8Array(64);
    while (!line.includes("\n")) {
      const n = await conn.read(buf);
      if (n === null) return;
      line += new TextDecoder().decode(buf.subarray(0, n));
    }
    await new Promise((r) => setTimeout(r, delayMs));
    const size = Number(line.trim());
    const body = new Uint8Array(size).fill(42);
    let off = 0;
    while (off < size) off += await conn.write(body.subarray(off));
  });
}

/** A TCP server that sends `size` bytes of a repeating pattern, then closes. */
export function sourceBackend(size: number): Backend {
  return tcpBackend(async (conn) => {
    const chunk = new Uint8Array(64 * 1024).map((_, i) => i % 251);
    let left = size;
    while (left > 0) {
      const part = chunk.subarray(0, Math.min(left, chunk.length));
      let off = 0;
      while (off < part.length) off += await conn.write(part.subarray(off));
      left -= part.length;
    }
  });
}

function tcpBackend(serve: (conn: Deno.Conn) => Promise<void>): Backend {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    close: async () => {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
    },
  };
}
