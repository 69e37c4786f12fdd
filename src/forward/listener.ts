/**
 * One forward's local port: accepts connections, admits them with the same check as `connect`
 * (by default only this user's programs), opens an upstream for each through the forward's
 * opener (plan.ts), and pipes bytes both ways. No protocol is spoken here: the client talks to
 * the pod's port as if it were local. It tracks every connection and upstream, so closing it
 * closes them all. Its counts ({@link ForwardListener.status}) and, when given, the activity
 * registry (the live view's connection list and failures) say what went through it.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { hostPort } from "../net/client_address.ts";
import { pipe } from "../net/pipe.ts";
import { DialError, type Upstream } from "../net/upstream.ts";
import type { Admission, AdmissionCheck } from "../front/dialer.ts";
import { AcceptLoop, DEFAULT_MAX_CONNECTIONS, listenTcp } from "../net/tcp_listen.ts";
import { LogLimit, moreSince } from "../front/log_limit.ts";
import type { Activity, ProgramInfo } from "../front/activity.ts";

const log = getLogger(["ktctl", "forward"]);

export interface ForwardServeOptions {
  /** Opens the upstream for one connection; rejects (a DialError) when none can be had. */
  open(): Promise<Upstream>;
  /** Who may use the forward; everyone when absent. */
  admit?: AdmissionCheck;
  /** For log lines: "127.0.0.1:5432 → service db/postgres:5432". */
  label: string;
  /** Where connections and failures are recorded for the live view; none when absent. */
  activity?: Activity;
  /** What a client of this port reaches, for the live view: "service db/postgres:5432". */
  target?: string;
}

/** The last connection through a forward that failed. */
export interface ForwardFailure {
  /** Epoch ms. */
  at: number;
  /** A DialError kind, or `not-allowed` (another user's program). */
  kind: string;
  sentence: string;
}

/** A forward's counts, as the live view shows them. */
export interface ForwardCounts {
  /** `listening` while it accepts, `closed` once stopped. */
  state: "listening" | "closed";
  /** Open now. */
  connections: number;
  /** Accepted since start (refused and failed ones included). */
  totalConnections: number;
  failures: number;
  lastFailure: ForwardFailure | null;
}

export class ForwardListener {
  readonly #loop: AcceptLoop;
  #upstreams = new Set<Upstream>();
  #closed = false;
  /** Connection numbers when no activity registry is given (which then numbers them). */
  #nextId = 1;
  #logs = { accept: new LogLimit(30_000), full: new LogLimit(30_000) };
  #total = 0;
  #failures = 0;
  #lastFailure: ForwardFailure | null = null;

  private constructor(listener: Deno.TcpListener) {
    this.#loop = new AcceptLoop(listener);
  }

  /** Binds the port; throws ListenError when it is taken or cannot be used. */
  static listen(hostname: string, port: number): ForwardListener {
    return new ForwardListener(listenTcp(hostname, port));
  }

  get addr(): Deno.NetAddr {
    return this.#loop.addr;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#loop.open;
  }

  /** What went through it so far (plain data). */
  status(): ForwardCounts {
    return {
      state: this.#closed ? "closed" : "listening",
      connections: this.#loop.open,
      totalConnections: this.#total,
      failures: this.#failures,
      lastFailure: this.#lastFailure && { ...this.#lastFailure },
    };
  }

  /** Accepts until closed. */
  serve(opts: ForwardServeOptions): Promise<void> {
    return this.#loop.run({
      maxConnections: DEFAULT_MAX_CONNECTIONS,
      handle: (conn) => {
        this.#total++;
        return this.#handle(conn, opts.activity?.nextId() ?? this.#nextId++, opts).catch((e) =>
          log.debug("Connection ended with an error: {error}", { error: String(e) })
        );
      },
      onAcceptError: (e) => {
        const earlier = this.#logs.accept.hit();
        if (earlier !== undefined) {
          log.warn("Accept failed on {label}: {error}; retrying with a delay of up to 1 s{more}", {
            label: opts.label,
            error: String(e),
            more: moreSince(earlier),
          });
        }
      },
      onFull: () => {
        const earlier = this.#logs.full.hit();
        if (earlier !== undefined) {
          log.warn(
            "{max} connections are open on {label}: new ones are closed until some end{more}",
            {
              max: DEFAULT_MAX_CONNECTIONS,
              label: opts.label,
              more: moreSince(earlier),
            },
          );
        }
      },
    });
  }

  /** Stops accepting and closes every open connection and upstream. */
  async close(): Promise<void> {
    this.#closed = true;
    const closing = this.#loop.close();
    for (const upstream of this.#upstreams) upstream.close();
    await closing;
  }

  async #handle(conn: Deno.Conn, id: number, opts: ForwardServeOptions): Promise<void> {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const client = `${remote.hostname}:${remote.port}`;
    let program: ProgramInfo | null = null;
    // As the client sees it: the local port it connected to.
    const destination = `forward ${hostPort(this.addr.hostname, this.addr.port)}`;
    const fail = (kind: string, sentence: string) => {
      this.#failures++;
      this.#lastFailure = { at: Date.now(), kind, sentence };
      opts.activity?.failed({ id, client, program, destination, kind, sentence });
    };
    if (opts.admit) {
      const verdict = await opts.admit(conn.localAddr as Deno.NetAddr, remote).catch((
        e,
      ): Admission => ({
        allowed: false,
        detail: `the peer's owner could not be checked: ${(e as Error).message}`,
      }));
      program = verdict.program ?? null;
      // A name still being looked up is filled in when found; the connection goes on meanwhile.
      verdict.naming?.then((named) => {
        if (!named) return;
        program = named;
        opts.activity?.named(id, named);
      });
      if (!verdict.allowed) {
        log.warn("Refused {client} on {label}: {detail} (--allowOtherUsers serves every user)", {
          client,
          label: opts.label,
          detail: verdict.detail,
        });
        fail("not-allowed", verdict.detail);
        return;
      }
    }
    const started = Date.now();
    let upstream: Upstream;
    try {
      upstream = await opts.open();
    } catch (e) {
      const sentence = e instanceof DialError ? e.message : String(e);
      log.warn("{label}: {error}", { label: opts.label, error: sentence });
      // Connections cut because ktctl is stopping are not failures.
      if (!this.#closed && opts.activity?.stopping !== true) {
        fail(e instanceof DialError ? e.kind : "failed", sentence);
      }
      return;
    }
    if (this.#closed) {
      upstream.close();
      return;
    }
    this.#upstreams.add(upstream);
    upstream.closed.then(() => this.#upstreams.delete(upstream));
    log.debug("#{id} {client} on {label} via {upstream}", {
      id,
      client,
      label: opts.label,
      upstream: upstream.description,
    });
    const piped = opts.activity
      ? opts.activity.track(
        {
          id,
          client,
          program,
          destination,
          via: opts.target ? `${opts.target} → ${upstream.description}` : upstream.description,
        },
        upstream,
      )
      : upstream;
    const stats = await pipe(conn, piped);
    log.debug("#{id} done: {sent} bytes sent, {received} received, {ms} ms{error}", {
      id,
      sent: stats.sent,
      received: stats.received,
      ms: Date.now() - started,
      error: stats.error ? ` (${stats.failedSide}: ${String(stats.error)})` : "",
    });
  }
}
