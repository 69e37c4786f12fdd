/**
 * What the listener hands each protocol session: the connection, the bytes already read, the
 * dialer and the client program (a session exists only for a peer admitted at accept: refused
 * peers are closed by the listener before a byte is read), plus what both protocols share about a
 * connection's
 * life: the dial that registers it with the activity registry (activity.ts, for the live view),
 * and its one log line: DBG for each connection under `-d`, and one rate-limited WRN line for
 * each connection that failed. A normal end is never logged as a failure.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { BufferedReader } from "../net/buffered_reader.ts";
import type { PipeStats } from "../net/pipe.ts";
import { DialError, type Upstream } from "../net/upstream.ts";
import { hostPort } from "../net/client_address.ts";
import type { Dialed, Dialer, DialHint, LocalPages } from "./dialer.ts";
import { type Activity, CountedUpstream, LineLimiter, type ProgramInfo } from "./activity.ts";

const log = getLogger(["ktctl", "proxy"]);

export interface FrontTimeouts {
  /** From accept to a complete first request (SOCKS handshake or HTTP head). */
  handshakeMs: number;
  /** How long an HTTP keep-alive connection may wait for its next request. */
  idleMs: number;
  /** How long an HTTP origin may take to start its response. */
  responseMs: number;
}

export interface Session {
  id: number;
  conn: Deno.Conn;
  /** The client's address, for logs. */
  client: string;
  /** Bytes read from the client and not yet used (the first one decided the protocol). */
  reader: BufferedReader;
  /**
   * The client program, where admission's peer-owner lookup found it; null when not known (yet:
   * a lookup still running fills it in when it ends, listener.ts).
   */
  program: ProgramInfo | null;
  dialer: Dialer;
  pages: LocalPages;
  timeouts: FrontTimeouts;
  /**
   * Ends the handshake deadline the listener started at accept (it closes the connection when
   * `handshakeMs` pass first). SOCKS calls it once its request is read; HTTP has ended it already
   * (its request heads have their own deadline). One timer per connection instead of two.
   */
  endHandshake(): void;
  /** Whether `host:port` is this listener: ktctl never proxies to itself. */
  isSelf(host: string, port: number): boolean;
  /** Registers an open upstream so that closing the listener closes it; false when closing. */
  hold(upstream: Upstream): boolean;
  /** Where open connections and failures are recorded for the live view; none in some tests. */
  activity?: Activity;
}

/** Failure lines when no activity registry is given (tests). */
const fallbackLimiter = new LineLimiter();
const limiters = new WeakMap<Activity, LineLimiter>();

function limiterOf(s: Session): LineLimiter {
  if (!s.activity) return fallbackLimiter;
  let l = limiters.get(s.activity);
  if (!l) limiters.set(s.activity, l = new LineLimiter());
  return l;
}

/**
 * Dials `host:port` for the session; the connection is registered with the activity registry,
 * and the upstream returned counts its bytes. `dest` is the destination as the client asked.
 */
export async function dialFor(
  s: Session,
  host: string,
  port: number,
  dest: string,
  hint?: DialHint,
): Promise<Dialed> {
  const dialed = await s.dialer.dial(host, port, hint);
  if (!s.activity) return dialed;
  const program = s.program;
  const description = dialed.upstream.description;
  const via = dialed.via === description || dialed.via === "direct"
    ? description
    : `${dialed.via} → ${description}`;
  const upstream = s.activity.track(
    { id: s.id, client: s.client, program, destination: dest, via },
    dialed.upstream,
  );
  return { ...dialed, upstream };
}

/** How a tunnelled connection ended, in plain words; `failed` only when something failed. */
export function describeEnd(
  stats: Pick<PipeStats, "error" | "failedSide">,
  received: number,
  stopping: boolean,
): { failed: boolean; words: string } {
  if (stats.error === undefined) return { failed: false, words: "closed" };
  const why = messageOf(stats.error);
  if (stopping) return { failed: false, words: "closed as ktctl stopped" };
  if (stats.failedSide === "client") {
    return { failed: false, words: `closed by the client (${why})` };
  }
  // The far side answered, then ended abruptly (a pod that resets instead of closing, the
  // tunnel's end after the client finished): the client got its answer.
  if (received > 0) return { failed: false, words: `closed by the far side (${why})` };
  return { failed: true, words: `failed: ${why}` };
}

/** The one line written per proxied connection (or HTTP request). */
export function logTunnel(
  s: Session,
  fields: { dest: string; via: string; upstream: Upstream; stats: PipeStats; started: number },
): void {
  const { stats, upstream } = fields;
  // Counted at the upstream: everything sent, an absolute-form request's head included.
  const bytes = upstream instanceof CountedUpstream
    ? upstream.takeUnlogged()
    : { sent: stats.sent, received: stats.received };
  const end = describeEnd(stats, bytes.received, s.activity?.stopping === true);
  // A normal end is a DBG line only: without `-d`, the line is not even built (per connection).
  if (!end.failed && !log.isEnabledFor("debug")) return;
  const where = fields.via === upstream.description
    ? fields.via
    : `${fields.via} (${upstream.description})`;
  const line = {
    id: s.id,
    who: who(s),
    dest: fields.dest,
    where,
    sent: formatBytes(bytes.sent),
    received: formatBytes(bytes.received),
    time: formatDuration(performance.now() - fields.started),
    end: end.words,
  };
  if (end.failed) {
    recordFailure(s, fields.dest, kindOf(stats.error, "failed"), end.words);
    if (warnLine(s, "#{id} {who} → {dest} via {where}: {end}", line)) return;
  }
  log.debug(
    "#{id} {who} → {dest} via {where}: {sent} sent, {received} received in {time}; {end}",
    line,
  );
}

/**
 * One line for a connection that was refused or failed before it was tunnelled: a WRN line
 * (rate-limited) when it asked for a destination, DBG when it never got that far.
 * `warn` is kept for callers that mark a refusal as always worth a warning.
 */
export function logRefusal(s: Session, dest: string, e: unknown, warn = false): void {
  const asked = dest !== "?";
  const fields = { id: s.id, who: who(s), dest, error: messageOf(e) };
  // Dials cut short by ktctl stopping are not failures.
  if (s.activity?.stopping) return log.debug("#{id} {who} → {dest}: {error}", fields);
  const kind = kindOf(e, warn ? "not-allowed" : asked ? "refused-request" : "handshake");
  recordFailure(s, dest, kind, messageOf(e));
  if ((asked || warn) && warnLine(s, "#{id} {who} → {dest}: {error}", fields)) return;
  log.debug("#{id} {who} → {dest}: {error}", fields);
}

/** Writes a WRN line unless the limiter holds it back; false when held (write DBG instead). */
function warnLine(s: Session, message: string, fields: Record<string, unknown>): boolean {
  const { write, held } = limiterOf(s).take();
  if (!write) return false;
  if (held > 0) {
    log.warn("({held} more failed connections were not logged; the list is on ktctl's page)", {
      held,
    });
  }
  log.warn(message, fields);
  return true;
}

function recordFailure(s: Session, destination: string, kind: string, sentence: string): void {
  s.activity?.failed({
    id: s.id,
    client: s.client,
    program: s.program,
    destination,
    kind,
    sentence,
  });
}

function kindOf(e: unknown, otherwise: string): string {
  return e instanceof DialError ? e.kind : otherwise;
}

/** `curl (pid 4242)`, or the client's address when the program is not known. */
function who(s: Session): string {
  const program = s.program;
  return program ? `${program.name} (pid ${program.pid})` : s.client;
}

/** `0 B`, `1.5 KiB`, `12.0 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) [v, i] = [v / 1024, i + 1];
  return `${v.toFixed(1)} ${units[i]}`;
}

/** `35 ms`, `2.4 s`, `3 min 5 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function formatAddr(a: Deno.NetAddr): string {
  return hostPort(a.hostname, a.port);
}
