/**
 * The one listener: accepts connections, decides their admission before reading a byte, reads
 * the first byte under the handshake deadline, and hands the connection to the SOCKS or HTTP
 * session that speaks it. It tracks every live connection and upstream, so that closing it
 * closes them all.
 *
 * What a hostile or broken peer can cost it is bounded here: a refused peer (another user's
 * program, an address outside `--allowFrom`) is closed before any byte is read or parsed; past
 * `maxConnections` open connections, new ones are closed at accept; accept errors (EMFILE when
 * descriptors run out) back off exponentially up to a second instead of spinning; and each of
 * these writes one WRN line per burst, not one per event.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { BufferedReader } from "../net/buffered_reader.ts";
import { closeQuietly } from "../net/io.ts";
import { AcceptLoop, DEFAULT_MAX_CONNECTIONS, listenTcp } from "../net/tcp_listen.ts";
import type { Upstream } from "../net/upstream.ts";
import type { Admission, AdmissionCheck, Dialer, LocalPages } from "./dialer.ts";
import { formatAddr, type FrontTimeouts, type Session } from "./session.ts";
import { sniff } from "./sniff.ts";
import type { Activity } from "./activity.ts";
import { serveSocks } from "./socks/session.ts";
import { serveHttp } from "./http/session.ts";
import { isSelfAddress } from "./self_address.ts";
import { LogLimit, moreSince } from "./log_limit.ts";

const log = getLogger(["ktctl", "proxy"]);

export interface ListenerOptions {
  hostname: string;
  port: number;
  timeouts?: Partial<FrontTimeouts>;
  /** The most connections open at once; more are closed at accept. */
  maxConnections?: number;
}

/** `--maxConnections`' default: far above what a desktop's programs open, far below fd limits. */

/** Accept errors back off from the first delay, doubling up to the last. */

export interface ServeOptions {
  dialer: Dialer;
  pages: LocalPages;
  /** Who may use the proxy; everyone when absent. */
  admit?: AdmissionCheck;
  /** Where connections and failures are recorded for the live view (activity.ts). */
  activity?: Activity;
}

const DEFAULT_TIMEOUTS: FrontTimeouts = {
  handshakeMs: 10_000,
  idleMs: 120_000,
  responseMs: 300_000,
};

const ALLOW_ALL: Admission = { allowed: true, detail: "" };

/** At most one WRN line per kind of event in this long (the rest are counted into the next). */
const LOG_INTERVAL_MS = 30_000;

export { DEFAULT_MAX_CONNECTIONS, ListenError } from "../net/tcp_listen.ts";

export class ProxyListener {
  readonly #loop: AcceptLoop;
  #upstreams = new Set<Upstream>();
  #closed = false;
  /** Connection numbers when no activity registry is given (which then numbers them). */
  #nextId = 1;
  #admit: AdmissionCheck | undefined;
  readonly #timeouts: FrontTimeouts;
  readonly #maxConnections: number;
  readonly #logs = {
    accept: new LogLimit(LOG_INTERVAL_MS),
    full: new LogLimit(LOG_INTERVAL_MS),
    refused: new LogLimit(LOG_INTERVAL_MS),
  };

  private constructor(listener: Deno.TcpListener, opts: ListenerOptions) {
    this.#loop = new AcceptLoop(listener);
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.#maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  }

  /** Binds the port; throws ListenError when the address is taken or cannot be used. */
  static listen(opts: ListenerOptions): ProxyListener {
    return new ProxyListener(listenTcp(opts.hostname, opts.port), opts);
  }

  get addr(): Deno.NetAddr {
    return this.#loop.addr;
  }

  /** Number of connections currently open. */
  get connections(): number {
    return this.#loop.open;
  }

  /** Accepts until closed. */
  serve(opts: ServeOptions): Promise<void> {
    this.#admit = opts.admit;
    return this.#loop.run({
      maxConnections: this.#maxConnections,
      handle: (conn) =>
        this.#handle(conn, opts.activity?.nextId() ?? this.#nextId++, opts).catch((e) =>
          log.debug("Connection ended with an error: {error}", { error: String(e) })
        ),
      onAcceptError: (e) => {
        const earlier = this.#logs.accept.hit();
        if (earlier !== undefined) {
          log.warn("Accept failed: {error}; retrying with a delay of up to 1 s{more}", {
            error: String(e),
            more: moreSince(earlier),
          });
        }
      },
      onFull: () => {
        const earlier = this.#logs.full.hit();
        if (earlier !== undefined) {
          log.warn(
            "{max} connections are open: new ones are closed until some end (raise --maxConnections if this is expected){more}",
            { max: this.#maxConnections, more: moreSince(earlier) },
          );
        }
      },
    });
  }

  /** Stops accepting and closes every open connection. */
  async close(): Promise<void> {
    this.#closed = true;
    const closing = this.#loop.close();
    for (const upstream of this.#upstreams) upstream.close();
    await closing;
    this.#admit?.close?.();
  }

  async #handle(conn: Deno.Conn, id: number, opts: ServeOptions): Promise<void> {
    const local = conn.localAddr as Deno.NetAddr;
    const remote = conn.remoteAddr as Deno.NetAddr;
    // Decided before any byte is read: a refused peer costs one lookup and a close, never a
    // parse, whatever it sends or however slowly.
    const verdict = opts.admit
      ? await opts.admit(local, remote).catch((e): Admission => ({
        allowed: false,
        detail: `the peer's owner could not be checked: ${(e as Error).message}`,
      }))
      : ALLOW_ALL;
    if (!verdict.allowed) {
      this.#refused(id, formatAddr(remote), verdict.detail);
      return;
    }
    // The program is named in the connection's one log line (session.ts), not in a line here;
    // a name still being looked up is filled in when found, and the connection goes on meanwhile.
    const named: { program: Session["program"]; session?: Session } = {
      program: verdict.program ?? null,
    };
    verdict.naming?.then((program) => {
      if (!program) return;
      named.program = program;
      if (named.session) named.session.program = program;
      opts.activity?.named(id, program);
    });
    const reader = new BufferedReader(conn, 1024);
    // One deadline from here to the end of the handshake: the first byte, then SOCKS's request
    // (session.endHandshake). A timer per connection costs tens of microseconds.
    const deadline = setTimeout(() => closeQuietly(conn), this.#timeouts.handshakeMs);
    const endHandshake = () => clearTimeout(deadline);
    const first = await reader.fill(1).catch(() => undefined);
    if (first !== true) return endHandshake();
    const protocol = sniff(reader.bytes[0]);
    const session: Session = named.session = {
      id,
      conn,
      client: formatAddr(remote),
      reader,
      program: named.program,
      dialer: opts.dialer,
      pages: opts.pages,
      timeouts: this.#timeouts,
      activity: opts.activity,
      endHandshake,
      isSelf: (host, port) => isSelfAddress(host, port, this.addr),
      hold: (upstream) => {
        if (this.#closed) {
          upstream.close();
          return false;
        }
        this.#upstreams.add(upstream);
        upstream.closed.then(() => this.#upstreams.delete(upstream));
        return true;
      },
    };
    switch (protocol) {
      case "socks4":
      case "socks5":
        return await serveSocks(session);
      case "http":
        endHandshake(); // its request heads have their own deadline
        return await serveHttp(session);
      default:
        endHandshake();
        log.debug("#{id} {client}: not SOCKS or HTTP (first byte 0x{byte})", {
          id,
          client: session.client,
          byte: reader.bytes[0].toString(16),
        });
    }
  }

  /**
   * One line per refusal: WRN for the first of a burst (naming its peer and how many were
   * refused since the last WRN), DBG for the others.
   */
  #refused(id: number, client: string, detail: string): void {
    const earlier = this.#logs.refused.hit();
    if (earlier === undefined) {
      log.debug("#{id} {client}: refused at accept: {detail}", { id, client, detail });
      return;
    }
    log.warn("Refused a connection from {client} at accept: {detail}{more}", {
      client,
      detail,
      more: moreSince(earlier),
    });
  }
}
