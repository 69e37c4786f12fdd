/**
 * One SOCKS connection (of a peer already admitted at accept): the handshake under the listener's
 * deadline, the dial, the reply, then the pipe. Dial failures become the reply code that best
 * says why.
 * @module
 */
import { writeQuietly } from "../../net/io.ts";
import { pipe } from "../../net/pipe.ts";
import { DialError } from "../../net/upstream.ts";
import { dialFor, logRefusal, logTunnel, type Session } from "../session.ts";
import { hostPort } from "../../net/client_address.ts";
import { negotiate } from "./handshake.ts";
import {
  Socks4Reply,
  socks4Reply,
  Socks5Reply,
  socks5Reply,
  type Socks5ReplyCode,
  type SocksRequest,
} from "./protocol.ts";

export async function serveSocks(s: Session): Promise<void> {
  const started = performance.now();
  // Under the listener's handshake deadline, started at accept.
  let hs;
  try {
    hs = await negotiate(s.conn, s.reader);
  } catch (e) {
    hs = { ok: false as const, reason: String(e) };
  } finally {
    s.endHandshake();
  }
  if (!hs.ok) {
    logRefusal(s, "?", `handshake failed: ${hs.reason}`);
    return;
  }
  const { request } = hs;
  const dest = hostPort(request.destination.host, request.destination.port);
  if (request.command !== "connect") {
    await writeQuietly(s.conn, failureReply(request, Socks5Reply.commandNotSupported));
    logRefusal(s, dest, `${request.command.toUpperCase()} is not supported`);
    return;
  }
  if (s.isSelf(request.destination.host, request.destination.port)) {
    await writeQuietly(s.conn, failureReply(request, Socks5Reply.notAllowed));
    logRefusal(s, dest, "that is ktctl's own address");
    return;
  }

  let dialed;
  try {
    dialed = await dialFor(s, request.destination.host, request.destination.port, dest);
  } catch (e) {
    await writeQuietly(s.conn, failureReply(request, replyCodeFor(e)));
    logRefusal(s, dest, e, e instanceof DialError && e.kind === "forbidden");
    return;
  }
  const { upstream, via } = dialed;
  if (!s.hold(upstream)) return;
  await writeQuietly(s.conn, successReply(request));
  const stats = await pipe(s.conn, upstream, hs.early);
  logTunnel(s, { dest, via, upstream, stats, started });
}

function successReply(r: SocksRequest): Uint8Array {
  return r.version === 4 ? socks4Reply(Socks4Reply.granted) : socks5Reply(Socks5Reply.succeeded);
}

function failureReply(r: SocksRequest, code: Socks5ReplyCode): Uint8Array {
  return r.version === 4 ? socks4Reply(Socks4Reply.rejected) : socks5Reply(code);
}

/** The SOCKS5 reply code that best tells the client why. */
export function replyCodeFor(e: unknown): Socks5ReplyCode {
  if (!(e instanceof DialError)) return Socks5Reply.generalFailure;
  switch (e.kind) {
    case "refused":
    case "no-port":
      return Socks5Reply.connectionRefused;
    case "not-found":
    case "unknown-host":
    case "no-endpoints":
      return Socks5Reply.hostUnreachable;
    case "forbidden":
    case "policy":
      return Socks5Reply.notAllowed;
    case "timeout":
      return Socks5Reply.ttlExpired;
    case "unreachable":
      return Socks5Reply.networkUnreachable;
    case "failed":
      return Socks5Reply.generalFailure;
  }
}
