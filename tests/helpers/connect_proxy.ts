/**
 * A small loopback HTTP CONNECT proxy, as a kubeconfig's `proxy-url` points at: it tunnels to
 * loopback destinations only, counts the tunnels it made, and can require Basic credentials.
 * @module
 */
import { closeQuietly, writeAll } from "../../src/net/io.ts";

export interface ConnectProxy {
  url: string;
  /** "host:port" of every tunnel made, in order. */
  readonly tunnels: string[];
  close(): Promise<void>;
}

export function connectProxy(opts: { user?: string; password?: string } = {}): ConnectProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tunnels: string[] = [];
  const open = new Set<Deno.Conn>();
  const serve = async (client: Deno.Conn) => {
    open.add(client);
    let upstream: Deno.Conn | undefined;
    try {
      const head = await readHead(client);
      const [method, target] = head.split("\r\n")[0].split(" ");
      const auth = opts.user
        ? `basic ${btoa(`${opts.user}:${opts.password ?? ""}`)}`.toLowerCase()
        : undefined;
      const given = head.match(/\r\nproxy-authorization: *([^\r]+)/i)?.[1].toLowerCase();
      if (auth && given !== auth) {
        await writeAll(client, new TextEncoder().encode("HTTP/1.1 407 Proxy Auth\r\n\r\n"));
        return;
      }
      const m = target?.match(/^\[?([^\]]+?)\]?:(\d+)$/);
      if (method !== "CONNECT" || !m || !/^(127\.|::1$)/.test(m[1])) {
        await writeAll(client, new TextEncoder().encode("HTTP/1.1 403 Forbidden\r\n\r\n"));
        return;
      }
      upstream = await Deno.connect({ hostname: m[1], port: Number(m[2]) });
      open.add(upstream);
      tunnels.push(target);
      await writeAll(
        client,
        new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"),
      );
      const up = upstream;
      await Promise.all([
        client.readable.pipeTo(up.writable).catch(() => {}),
        up.readable.pipeTo(client.writable).catch(() => {}),
      ]);
    } catch {
      /* either side gone */
    } finally {
      for (const c of [client, upstream]) {
        if (c) {
          open.delete(c);
          closeQuietly(c);
        }
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) serve(conn);
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    tunnels,
    async close() {
      closeQuietly(listener);
      for (const c of open) closeQuietly(c);
      await accepting;
    },
  };
}

async function readHead(conn: Deno.Conn): Promise<string> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  while (!(bytes.length >= 4 && bytes.slice(-4).join() === "13,10,13,10")) {
    if ((await conn.read(one)) === null || bytes.length > 8192) throw new Error("bad request");
    bytes.push(one[0]);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
