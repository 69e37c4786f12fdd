/**
 * A loopback TCP relay between ktctl and the API server. It counts the bytes flowing each way
 * (the benchmark's "read from the API server"; TLS passes through untouched, so the relay sees
 * what crossed the wire), and it can make the connections open through it go silent without
 * closing them, as a sleeping laptop, a dropped VPN or a NAT that forgot the flow does: their
 * bytes are swallowed both ways while new connections are relayed as usual (the e2e test of
 * watches on a silent path).
 * @module
 */

export interface Relay {
  port: number;
  /** Bytes sent by the upstream (the API server) to clients, so far. */
  readonly down: number;
  /** Bytes sent by clients to the upstream, so far. */
  readonly up: number;
  /** From now on, every connection open at this moment carries nothing either way. */
  silenceExisting(): void;
  close(): void;
}

interface Flow {
  conns: [Deno.Conn, Deno.Conn];
  silent: boolean;
}

/** Listens on 127.0.0.1 (a free port) and relays every connection to 127.0.0.1:`target`. */
export function relay(target: number): Relay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const flows = new Set<Flow>();
  const counts = { down: 0, up: 0 };
  const end = (flow: Flow) => {
    for (const c of flow.conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    flows.delete(flow);
  };
  const pump = async (flow: Flow, dir: "down" | "up") => {
    const [from, to] = dir === "up" ? flow.conns : [flow.conns[1], flow.conns[0]];
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        if (flow.silent) continue;
        counts[dir] += n;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch { /* either side went away */ }
    // A silent flow never ends on its own: the far side must not learn of anything.
    if (!flow.silent) end(flow);
  };
  (async () => {
    try {
      for await (const client of listener) {
        Deno.connect({ hostname: "127.0.0.1", port: target }).then((server) => {
          const flow: Flow = { conns: [client, server], silent: false };
          flows.add(flow);
          pump(flow, "up");
          pump(flow, "down");
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
    silenceExisting() {
      for (const f of flows) f.silent = true;
    },
    close() {
      listener.close();
      for (const f of [...flows]) end(f);
    },
  };
}
