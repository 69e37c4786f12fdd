/**
 * A loopback TCP relay that injects faults between a client and a server (ktctl and the API
 * server, say): point the client at `port`, and the relay forwards to `target`. Faults apply to
 * the connections open at the time unless said otherwise:
 * - `pause()`: stop forwarding both ways without closing (a sleeping laptop, a NAT that forgot
 *   the connection); `resume()` lets the held bytes go on.
 * - `drop()`: close them (FIN both ways); `reset()`: close them with unread bytes discarded, which
 *   Linux answers with RST where data is pending.
 * - `delayMs`: a delay before each chunk is passed on, for every connection from then on.
 * New connections are relayed normally unless `pauseNew` is set.
 * @module
 */
import { closeQuietly, writeAll } from "../../src/net/io.ts";

interface Relayed {
  client: Deno.Conn;
  server: Deno.Conn;
  paused: boolean;
  resume: (() => void)[];
}

export class FaultRelay {
  #listener: Deno.Listener;
  #open = new Set<Relayed>();
  #accepting: Promise<void>;
  /** Delay before each chunk is passed on. */
  delayMs = 0;
  /** Hold new connections' bytes too (the whole path is down). */
  pauseNew = false;
  /** Connections accepted so far. */
  accepted = 0;
  /** When a byte was last passed on, either way (Date.now()). */
  lastForwardAt = 0;

  constructor(readonly target: { hostname: string; port: number }) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Connections open now. */
  get openCount(): number {
    return this.#open.size;
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) this.#relay(client);
    } catch { /* closed */ }
  }

  async #relay(client: Deno.Conn): Promise<void> {
    this.accepted++;
    let server: Deno.Conn;
    try {
      server = await Deno.connect(this.target);
    } catch {
      closeQuietly(client);
      return;
    }
    const r: Relayed = { client, server, paused: this.pauseNew, resume: [] };
    this.#open.add(r);
    await Promise.all([this.#pump(r, client, server), this.#pump(r, server, client)]);
    this.#open.delete(r);
    closeQuietly(client);
    closeQuietly(server);
  }

  async #pump(r: Relayed, from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        while (r.paused) await new Promise<void>((w) => r.resume.push(w));
        const n = await from.read(buf);
        if (n === null) break;
        // Bytes read while a pause began are held until it ends.
        while (r.paused) await new Promise<void>((w) => r.resume.push(w));
        if (this.delayMs > 0) await new Promise((w) => setTimeout(w, this.delayMs));
        await writeAll(to, buf.subarray(0, n));
        this.lastForwardAt = Date.now();
      }
      await (to as Deno.TcpConn).closeWrite().catch(() => {});
    } catch {
      closeQuietly(from);
      closeQuietly(to);
    }
  }

  /** Stops forwarding on the connections open now, both ways. */
  pause(): void {
    for (const r of this.#open) r.paused = true;
  }

  resume(): void {
    this.pauseNew = false;
    for (const r of this.#open) {
      r.paused = false;
      for (const w of r.resume.splice(0)) w();
    }
  }

  /** Closes the connections open now. */
  drop(): void {
    for (const r of this.#open) {
      closeQuietly(r.client);
      closeQuietly(r.server);
      r.paused = false;
      for (const w of r.resume.splice(0)) w();
    }
  }

  /** As drop(), for connections that hold unread bytes: the kernel sends RST for those. */
  reset(): void {
    this.drop();
  }

  async close(): Promise<void> {
    closeQuietly(this.#listener);
    this.drop();
    await this.#accepting;
  }
}
