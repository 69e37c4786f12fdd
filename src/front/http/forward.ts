/**
 * An absolute-form request (`GET http://host/path`, any method) to its origin and back: dial or
 * reuse the connection to that origin, send the head rewritten, pass the body and the response
 * on as they come (framing is only counted, so chunked bodies, `Expect: 100-continue` and
 * interim responses flow through untouched), and switch to a plain pipe after a
 * `101 Switching Protocols`.
 * @module
 */
import { closeQuietly, writeAll } from "../../net/io.ts";
import { pipe, type PipeStats } from "../../net/pipe.ts";
import { DialError, type Upstream } from "../../net/upstream.ts";
import { logTunnel, messageOf, type Session } from "../session.ts";
import { hostPort } from "../../net/client_address.ts";
import { BodyFramer, type Framing, FramingError, requestFraming, responseFraming } from "./body.ts";
import { fieldValues, parseResponseHead, type RequestHead, type ResponseHead } from "./head.ts";
import {
  clientKeepsAlive,
  clientResponse,
  originKeepsAlive,
  originRequest,
  upgradeRequested,
} from "./messages.ts";
import type { Target } from "./target.ts";
import { answer, answerUnreachable, dial } from "./answer.ts";
import type { Dialed } from "../dialer.ts";
import { authSchemesOf, toProxyForm } from "../../net/proxy_handshake.ts";
import { connectMessage } from "../../net/proxy_dial.ts";

/** The longest response head ktctl relays. */
const MAX_RESPONSE_HEAD = 64 * 1024;

/** An origin connection kept between requests of one client connection. */
export interface Origin {
  key: string;
  via: string;
  upstream: Upstream;
  reader: UpstreamReader;
  /** The connection is to the user's HTTP proxy: requests go in absolute form (dialer.ts). */
  proxyForm?: Dialed["proxyForm"];
}

export interface Forwarded {
  /** The origin connection to keep for the next request, if it may be reused. */
  origin: Origin | undefined;
  keepClient: boolean;
}

/** An absolute-form request: to the origin and back. */
export async function forward(
  s: Session,
  head: RequestHead,
  target: Extract<Target, { form: "absolute" }>,
  kept: Origin | undefined,
): Promise<Forwarded> {
  const started = performance.now();
  const dest = hostPort(target.host, target.port);
  const framing = requestFraming(head);
  if (!framing.ok) {
    await answer(s, 400, `malformed request: ${framing.reason}\n`, head);
    kept?.upstream.close();
    return { origin: undefined, keepClient: false };
  }
  const hasBody = framing.framing.kind !== "length" || framing.framing.length > 0;
  const key = `${target.host}:${target.port}`;
  if (kept && (kept.key !== key || (kept.proxyForm && upgradeRequested(head) !== undefined))) {
    kept.upstream.close();
    kept = undefined;
  }
  const outgoing = originRequest(head, target.path, target.authority);
  for (let attempt = 0;; attempt++) {
    const reused = kept !== undefined;
    let origin = kept;
    kept = undefined;
    if (!origin) {
      // Without a body the client connection can stay open after a failure.
      // Plain requests may go to an HTTP upstream proxy as they are; an Upgrade (WebSocket)
      // needs a tunnel, which many proxies (squid) give only through CONNECT.
      const dialed = await dial(s, head, target.host, target.port, dest, hasBody, {
        httpRequest: upgradeRequested(head) === undefined,
      });
      if (!dialed) return { origin: undefined, keepClient: !hasBody && clientKeepsAlive(head) };
      if (!s.hold(dialed.upstream)) return { origin: undefined, keepClient: false };
      origin = { key, ...dialed, reader: new UpstreamReader(dialed.upstream) };
    }
    // A kept connection the origin closed while idle fails before any byte of the response:
    // a request without a body can safely go again on a fresh one.
    const mayRetry = reused && !hasBody && attempt === 0;
    const request = origin.proxyForm
      ? toProxyForm(
        outgoing,
        `${target.scheme}://${target.authority}${target.path}`,
        origin.proxyForm.credentials,
      )
      : outgoing;
    const result = await exchange(s, head, request, framing.framing, origin, mayRetry);
    if (result.kind === "retry") continue;
    logTunnel(s, {
      dest: `${head.method} ${target.scheme}://${target.authority}${target.path}`,
      via: origin.via,
      upstream: origin.upstream,
      stats: result.stats,
      started,
    });
    if (result.kind === "failed" || !result.keepOrigin) origin.upstream.close();
    if (result.kind === "failed") return { origin: undefined, keepClient: false };
    return { origin: result.keepOrigin ? origin : undefined, keepClient: result.keepClient };
  }
}

type Exchange =
  | { kind: "done"; keepOrigin: boolean; keepClient: boolean; stats: PipeStats }
  /** The kept origin connection had ended before any response: send the request again. */
  | { kind: "retry" }
  /** It failed; the client has been answered if it could be, and its connection closed. */
  | { kind: "failed"; stats: PipeStats };

/**
 * Sends one request and relays its response; the body goes up while the response comes down
 * (so `Expect: 100-continue` works: the client waits for the interim response relayed below).
 */
async function exchange(
  s: Session,
  head: RequestHead,
  outgoing: Uint8Array,
  framing: Framing,
  origin: Origin,
  mayRetry: boolean,
): Promise<Exchange> {
  const stats: PipeStats = { sent: 0, received: 0 };
  const up = origin.upstream;
  const dest = origin.key;
  const fail = async (status: number | undefined, text: string): Promise<Exchange> => {
    up.close();
    if (status !== undefined) await answer(s, status, text, head, { close: true });
    closeQuietly(s.conn);
    await sending;
    return { kind: "failed", stats };
  };
  let sending: Promise<void> = Promise.resolve();
  try {
    up.buffer(outgoing.length).set(outgoing);
    await up.write(outgoing.length);
  } catch (e) {
    if (mayRetry) return { kind: "retry" };
    stats.error = e;
    stats.failedSide = "upstream";
    return await fail(502, `${dest} failed: ${messageOf(e)}\n`);
  }
  const body = new BodyFramer(framing);
  let bodyError: unknown;
  sending = sendBody(s, body, up, stats).catch((e) => {
    bodyError = e;
  });
  const response = await relayResponse(s, head, origin, stats);
  switch (response.kind) {
    case "stale":
      if (mayRetry) {
        up.close();
        return { kind: "retry" };
      }
      if (response.error instanceof DialError) {
        // A port-forward learns that the pod refused the port only once data flows.
        stats.error = response.error;
        up.close();
        await answerUnreachable(s, head, dest, response.error);
        await sending;
        return { kind: "failed", stats };
      }
      return await fail(502, `${dest} closed the connection without a response\n`);
    case "timeout":
      return await fail(504, `${dest} sent no response within ${s.timeouts.responseMs / 1000} s\n`);
    case "broken":
      return await fail(undefined, "");
  }
  if (response.upgraded) {
    await sending;
    const piped = await pipe(s.conn, up, s.reader.take());
    return {
      kind: "done",
      keepOrigin: false,
      keepClient: false,
      stats: { ...piped, sent: stats.sent + piped.sent, received: stats.received + piped.received },
    };
  }
  if (!body.done) {
    // The origin answered before the whole body came (an early 413, a refused 100-continue):
    // the rest of the body cannot be told apart from a next request, so the connection ends.
    return await fail(undefined, "");
  }
  await sending;
  if (bodyError !== undefined) {
    stats.error ??= bodyError;
    return await fail(undefined, "");
  }
  return {
    kind: "done",
    keepOrigin: response.keepOrigin,
    keepClient: response.keepClient && clientKeepsAlive(head),
    stats,
  };
}

/**
 * Request body bytes read straight from the client into the upstream's buffer: the first read is
 * small and they grow while the client fills them, as in pipe(). Going through the session's
 * reader instead (1 KiB at first, never grown once emptied) made every KiB of an upload one
 * upstream write: a WebSocket message with a ping of its own, 16x the CPU of a CONNECT upload.
 */
const BODY_FIRST_CHUNK = 4 * 1024;
const BODY_CHUNK = 64 * 1024;

/** Relays the request body from the client to the origin, exactly as framed. */
async function sendBody(
  s: Session,
  body: BodyFramer,
  up: Upstream,
  stats: PipeStats,
): Promise<void> {
  let size = BODY_FIRST_CHUNK;
  while (!body.done) {
    // Bytes that are body whatever they hold can skip the reader: never past the body's end,
    // so a pipelined next request stays in the client's socket for the reader.
    const direct = Math.min(size, body.certain);
    if (s.reader.length === 0 && direct > 0) {
      const buf = up.buffer(direct);
      const n = await s.reader.source.read(buf);
      if (n === null) throw new Error("the client closed before the end of the request body");
      body.feed(buf.subarray(0, n));
      if (n === direct) size = Math.min(size * 4, BODY_CHUNK);
      await up.write(n);
      stats.sent += n;
      continue;
    }
    if (s.reader.length === 0 && !(await s.reader.readMore())) {
      throw new Error("the client closed before the end of the request body");
    }
    const bytes = s.reader.bytes;
    const n = body.feed(bytes);
    up.buffer(n).set(bytes.subarray(0, n));
    s.reader.consume(n);
    await up.write(n);
    stats.sent += n;
  }
}

type Relayed =
  | { kind: "done"; keepOrigin: boolean; keepClient: boolean; upgraded: boolean }
  /** No response began: the origin ended or failed first ("stale") or took too long. */
  | { kind: "stale" | "timeout"; error?: unknown }
  /** Something broke once the response had begun (or the client was already told). */
  | { kind: "broken" };

/** Relays interim responses, then the final one, then its body. */
async function relayResponse(
  s: Session,
  request: RequestHead,
  origin: Origin,
  stats: PipeStats,
): Promise<Relayed> {
  const { reader } = origin;
  let began = false;
  while (true) {
    const head = await readResponseHead(s, origin, !began);
    if (head === "timeout") return { kind: began ? "broken" : "timeout" };
    if (typeof head === "object" && "stale" in head) {
      return began ? { kind: "broken" } : { kind: "stale", error: head.stale };
    }
    if (typeof head === "string") {
      stats.error = new Error(head);
      stats.failedSide = "upstream";
      if (!began) {
        await answer(s, 502, `the origin's response is not valid HTTP/1.x: ${head}\n`, request, {
          close: true,
        });
      }
      return { kind: "broken" };
    }
    began = true;
    const upgraded = head.status === 101 && upgradeRequested(request) !== undefined;
    if (head.status >= 100 && head.status < 200 && !upgraded) {
      // 100 Continue, 103 Early Hints: passed on, then the real response follows.
      await writeAll(s.conn, clientResponse(head, { close: false, minor: request.minor }));
      continue;
    }
    if (origin.proxyForm && head.status === 407) {
      // The user's proxy wants credentials ktctl does not have: say so, as for CONNECT.
      const step = `${request.method} through the upstream proxy ${origin.proxyForm.proxy}`;
      const schemes = authSchemesOf(fieldValues(head.fields, "proxy-authenticate"));
      const text = connectMessage(
        step,
        { ...head, statusLine: "407", authSchemes: schemes },
        origin.proxyForm.credentials,
      );
      await answer(s, 502, `${text}\n`, request, { close: true, reason: "forbidden" });
      return { kind: "broken" };
    }
    const framing = responseFraming(head, request.method);
    if (!framing.ok) {
      stats.error = new Error(framing.reason);
      await answer(s, 502, `the origin's response is not valid: ${framing.reason}\n`, request, {
        close: true,
      });
      return { kind: "broken" };
    }
    const body = new BodyFramer(framing.framing);
    const keepClient = !upgraded && !body.closeDelimited && clientKeepsAlive(request);
    await writeAll(
      s.conn,
      clientResponse(head, { close: !keepClient && !upgraded, minor: request.minor }),
    );
    if (upgraded) {
      const early = reader.takePending();
      if (early.length > 0) await writeAll(s.conn, early);
      stats.received += early.length;
      return { kind: "done", keepOrigin: false, keepClient: false, upgraded: true };
    }
    try {
      const clean = await relayBody(s, body, reader, stats);
      return {
        kind: "done",
        keepOrigin: clean && originKeepsAlive(head) && !body.closeDelimited,
        keepClient,
        upgraded: false,
      };
    } catch (e) {
      stats.error ??= e;
      stats.failedSide ??= "upstream";
      return { kind: "broken" };
    }
  }
}

/**
 * The next response head; `stale` (with the upstream's error, if it failed) when the origin
 * ended before any byte of it, "timeout", or why it is malformed.
 */
async function readResponseHead(
  s: Session,
  origin: Origin,
  first: boolean,
): Promise<ResponseHead | { stale: unknown } | "timeout" | string> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    origin.upstream.close();
  }, s.timeouts.responseMs);
  try {
    while (true) {
      const r = parseResponseHead(origin.reader.pending);
      if (r.status === "done") {
        origin.reader.consumePending(r.consumed);
        return r.head;
      }
      if (r.status === "invalid") return r.reason;
      if (origin.reader.pending.length > MAX_RESPONSE_HEAD) return "response head too large";
      let got: boolean;
      let error: unknown;
      try {
        got = await origin.reader.fetch();
      } catch (e) {
        [got, error] = [false, e];
      }
      if (timedOut) return "timeout";
      if (!got) {
        return first && origin.reader.pending.length === 0
          ? { stale: error }
          : "the origin closed mid-head";
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Relays a response body; false when the origin sent bytes past its end (not reusable). */
async function relayBody(
  s: Session,
  body: BodyFramer,
  reader: UpstreamReader,
  stats: PipeStats,
): Promise<boolean> {
  let chunk: Uint8Array | null = reader.takePending();
  while (true) {
    if (chunk.length > 0) {
      const n = body.feed(chunk);
      if (n > 0) {
        await writeAll(s.conn, chunk.subarray(0, n));
        stats.received += n;
      }
      if (n < chunk.length) return false;
    }
    if (body.done) return true;
    chunk = await reader.upstream.read();
    if (chunk === null) {
      if (body.closeDelimited) return false;
      throw new FramingError("the origin closed before the end of the response body");
    }
  }
}

/**
 * Reads from an upstream for the response side. Head bytes are copied (the upstream lends its
 * chunks only until the next read); body bytes pass straight from the upstream to the client.
 */
class UpstreamReader {
  #pending = new Uint8Array(0);
  constructor(readonly upstream: Upstream) {}

  get pending(): Uint8Array {
    return this.#pending;
  }

  /** Appends the next chunk to the pending bytes; false at the end. */
  async fetch(): Promise<boolean> {
    const chunk = await this.upstream.read();
    if (chunk === null) return false;
    const joined = new Uint8Array(this.#pending.length + chunk.length);
    joined.set(this.#pending);
    joined.set(chunk, this.#pending.length);
    this.#pending = joined;
    return true;
  }

  consumePending(n: number): void {
    this.#pending = this.#pending.subarray(n);
  }

  takePending(): Uint8Array {
    const p = this.#pending;
    this.#pending = new Uint8Array(0);
    return p;
  }
}
