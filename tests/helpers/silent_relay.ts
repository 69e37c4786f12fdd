/**
 * A loopback TCP relay that can make the connections through it go silent without closing them,
 * as a sleeping laptop, a dropped VPN or a NAT that forgot the flow does: bytes on those
 * connections are swallowed both ways, while new connections are relayed as usual (the path is
 * back, the old flows are not).
 * @module
 */

export interface SilentRelay {
  port: number;
  /** From now on, every connection open at this moment carries nothing either way. */
  silenceExisting(): void;
  /** How many connections were accepted so far. */
  readonly accepted: number;
  close(): void;
}

/** Relays 127.0.0.1:<port> (a free one) to 127.0.0.1:`target`. */
export function silentRelay(target: number): SilentRelay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<{ conns: Deno.Conn[]; silent: boolean }>();
  let accepted = 0;
  const pump = async (pair: { conns: Deno.Conn[]; silent: boolean }, from: number) => {
    const [src, dst] = from === 0 ? pair.conns : [pair.conns[1], pair.conns[0]];
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await src.read(buf);
        if (n === null) break;
        if (pair.silent) continue;
        let off = 0;
        while (off < n) off += await dst.write(buf.subarray(off, n));
      }
    } catch { /* closed */ }
    if (pair.silent) return; // a silent flow never ends on its own
    for (const c of pair.conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    pairs.delete(pair);
  };
  (async () => {
    try {
      for await (const client of listener) {
        accepted++;
        Deno.connect({ hostname: "127.0.0.1", port: target }).then((server) => {
          const pair = { conns: [client, server], silent: false };
          pairs.add(pair);
          pump(pair, 0);
          pump(pair, 1);
        }, () => client.close());
      }
    } catch { /* closed */ }
  })();
  return {
    port: listener.addr.port,
    get accepted() {
      return accepted;
    },
    silenceExisting() {
      for (const p of pairs) p.silent = true;
    },
    close() {
      listener.close();
      for (const p of pairs) {
        for (const c of p.conns) {
          try {
            c.close();
          } catch { /* closed */ }
        }
      }
      pairs.clear();
    },
  };
}
