/**
 * Connections to destinations outside the cluster, dialled from this machine as if there were no
 * proxy. Names are looked up with the system resolver (net/system_resolver.ts), so /etc/hosts
 * and the OS's DNS settings apply as they would without ktctl; routing (route.ts) checks every
 * resolved address against the direct-dial policy before anything here dials it.
 * @module
 */
import { lookupAll } from "../net/system_resolver.ts";
import { canonicalIp, type Cidr, formatCidr } from "../net/ip.ts";
import { DialError, type Upstream } from "../net/upstream.ts";
import { UpstreamBase } from "../net/upstream_base.ts";
import { closeQuietly, writeAll } from "../net/io.ts";

/** Which destinations may be dialled directly: all, none, or only those in the ranges. */
export type DirectPolicy = { kind: "all" } | { kind: "none" } | { kind: "ranges"; ranges: Cidr[] };

export function describePolicy(p: DirectPolicy): string {
  return p.kind === "ranges" ? p.ranges.map(formatCidr).join(",") : p.kind;
}

/** Resolves a name to canonical addresses (an IP literal resolves to itself). */
export async function resolveHost(host: string): Promise<string[]> {
  const ip = canonicalIp(host);
  if (ip) return [ip];
  try {
    const found = await lookupAll(host);
    return found.map((a) => canonicalIp(a)).filter((a): a is string => a !== undefined);
  } catch (e) {
    throw new DialError("unknown-host", `cannot resolve ${host}: ${(e as Error).message}`);
  }
}

/**
 * Dials the first of `addresses` that answers (routing has checked them against `--dialDirect`).
 */
export async function dialAddresses(
  host: string,
  allowed: string[],
  port: number,
  timeoutMs: number,
): Promise<Upstream> {
  let lastError: unknown;
  for (const address of allowed) {
    // The signal would also close an established connection, so it only guards the dial.
    const dialing = new AbortController();
    const timer = setTimeout(() => dialing.abort(new DOMException("", "TimeoutError")), timeoutMs);
    try {
      const conn = await Deno.connect({ hostname: address, port, signal: dialing.signal });
      return new TcpUpstream(
        conn,
        `direct ${host === address ? "" : host + " "}${address}:${port}`,
      );
    } catch (e) {
      lastError = dialing.signal.aborted ? dialing.signal.reason : e;
    } finally {
      clearTimeout(timer);
    }
  }
  const e = lastError as Error;
  if (e instanceof Deno.errors.ConnectionRefused) {
    throw new DialError("refused", `${host}:${port} refused the connection`);
  }
  if (e?.name === "TimeoutError") {
    throw new DialError("timeout", `${host}:${port} did not answer in ${timeoutMs} ms`);
  }
  throw new DialError("unreachable", `cannot connect to ${host}:${port}: ${e?.message}`);
}

/** A plain TCP connection as an Upstream (TCP half-closes: no silence timer). */
/**
 * Reads from a direct upstream start at 4 KiB and grow (x4, to 64 KiB) while the upstream fills
 * them: most connections carry a small response, and a 64 KiB buffer per connection was a
 * zeroed allocation (~7 us, and memory the GC only frees later) on every new connection.
 */
const FIRST_READ = 4 * 1024;
const MAX_READ = 64 * 1024;

export class TcpUpstream extends UpstreamBase {
  #in = new Uint8Array(FIRST_READ);
  /** Whether the last read filled the buffer: the next one gets a larger one. */
  #full = false;
  #buf = new Uint8Array(0);
  #closed = false;
  readonly halfDuplexEnd = true;
  /** Bytes that arrived with a proxy's answer, before the tunnel was handed over. */
  #early: Uint8Array | undefined;
  constructor(readonly conn: Deno.Conn, description: string, early?: Uint8Array) {
    super(description);
    this.#early = early && early.length > 0 ? early : undefined;
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#early) {
      const first = this.#early;
      this.#early = undefined;
      return first;
    }
    if (this.#full && this.#in.length < MAX_READ) {
      this.#in = new Uint8Array(Math.min(this.#in.length * 4, MAX_READ));
    }
    const n = await this.conn.read(this.#in);
    if (n === null) return null;
    this.#full = n === this.#in.length;
    return this.#in.subarray(0, n);
  }

  buffer(size: number): Uint8Array {
    if (this.#buf.length < size) this.#buf = new Uint8Array(size);
    return this.#buf.subarray(0, size);
  }

  async write(length: number): Promise<void> {
    await writeAll(this.conn, this.#buf.subarray(0, length));
  }

  async endWrite(): Promise<void> {
    await this.conn.closeWrite().catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.conn);
    this.markClosed();
  }
}
