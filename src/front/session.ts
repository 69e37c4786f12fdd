/**
 * What the listener hands each protocol session: the connection, the bytes already read, the
 * dialer and the connection's admission, plus the one connection log line both protocols write.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { BufferedReader } from "../net/buffered_reader.ts";
import type { PipeStats } from "../net/pipe.ts";
import type { Upstream } from "../net/upstream.ts";
import { hostPort } from "../net/client_address.ts";
import type { Admission, Dialer, LocalPages } from "./dialer.ts";

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
  admission: Promise<Admission>;
  dialer: Dialer;
  pages: LocalPages;
  timeouts: FrontTimeouts;
  /** Whether `host:port` is this listener: ktctl never proxies to itself. */
  isSelf(host: string, port: number): boolean;
  /** Registers an open upstream so that closing the listener closes it; false when closing. */
  hold(upstream: Upstream): boolean;
}

/** The DBG line written once per proxied connection (or HTTP request). */
export function logTunnel(
  s: Session,
  fields: { dest: string; via: string; upstream: Upstream; stats: PipeStats; started: number },
): void {
  const { stats } = fields;
  const outcome = stats.error === undefined
    ? "closed"
    : `${stats.failedSide === "client" ? "client" : "upstream"} failed: ${messageOf(stats.error)}`;
  log.debug(
    "#{id} {client} → {dest} via {via} → {upstream}: sent {sent} B, received {received} B in {ms} ms, {outcome}",
    {
      id: s.id,
      client: s.client,
      dest: fields.dest,
      via: fields.via,
      upstream: fields.upstream.description,
      sent: stats.sent,
      received: stats.received,
      ms: Math.round(performance.now() - fields.started),
      outcome,
    },
  );
}

/** One line for a connection that was refused or failed before it was tunnelled. */
export function logRefusal(s: Session, dest: string, e: unknown, warn = false): void {
  const fields = { id: s.id, client: s.client, dest, error: messageOf(e) };
  if (warn) log.warn("#{id} {client} → {dest}: {error}", fields);
  else log.debug("#{id} {client} → {dest}: {error}", fields);
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function formatAddr(a: Deno.NetAddr): string {
  return hostPort(a.hostname, a.port);
}
