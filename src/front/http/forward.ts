/**
 * An absolute-form request (`GET http://host/path`, any method) to its origin and back: dial or
 * reuse the connection to that origin, send the head rewritten, pass the body and the response
 * on as they come (framing is counted, and the framing fields written are generated from what
 * was counted: messages.ts), and switch to a plain pipe after a `101 Switching Protocols` the
 * client asked for. A response ktctl cannot relay unambiguously ends the origin connection: the
 * client gets a 502 when no byte of a final response has reached it yet, else its connection is
 * cut, so that nothing an origin sends can be read as the answer to the client's next request.
 * @module
 */
import { closeQuietly, writeAll } from "../../net/io.ts";
import { pipe, type PipeStats } from "../../net/pipe.ts";
import { DialError, type Upstream } from "../../net/upstream.ts";
import { logRefusal, logTunnel, messageOf, type Session } from "../session.ts";
import { hostPort } from "../../net/client_address.ts";
import { BodyFramer, type Framing, FramingError } from "./body.ts";
import {
  fieldValues,
  type HeadLimits,
  type RequestHead,
  type ResponseHead,
  responseHeadParser,
} from "./head.ts";
import { clientKeepsAlive, planRequest, planResponse, upgradeRequested } from "./messages.ts";
import { loggableTarget, type Target } from "./target.ts";
import { answer, answerUnreachable, dial } from "./answer.ts";
import type { Dialed } from "../dialer.ts";
import { authSchemesOf, toProxyForm } from "../../net/proxy_handshake.ts";
import { connectMessage } from "../../net/proxy_dial.ts";

/** Limits on a response head: more fields than a request may carry (Set-Cookie, CSP...). */
const RESPONSE_LIMITS: HeadLimits = { maxStartLine: 8192, maxHead: 64 * 1024, maxFields: 256 };

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
  const plan = planRequest(head, target.path, target.authority);
  if (!plan.ok) {
    // Nothing of it was sent: whatever follows on the client connection cannot be framed.
    await answer(s, 400, `malformed request: ${plan.reason}\n`, head);
    logRefusal(s, loggableTarget(head.target), `malformed request: ${plan.reason}`);
    kept?.upstream.close();
    return { origin: undefined, keepClient: false };
  }
  const hasBody = plan.framing.kind !== "length" || plan.framing.length > 0;
  const key = `${target.host}:${target.port}`;
  if (kept && (kept.key !== key || (kept.proxyForm && upgradeRequested(head) !== undefined))) {
    kept.upstream.close();
    kept = undefined;
  }
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
    const outgoing = origin.proxyForm
      ? toProxyForm(
        plan.head,
        `${target.scheme}://${target.authority}${target.path}`,
        origin.proxyForm.credentials,
      )
      : plan.head;
    const result = await exchange(s, head, outgoing, plan.framing, origin, mayRetry);
    if (result.kind === "retry") continue;
    logTunnel(s, {
      // The path without its query: queries carry tokens and personal data.
      dest: `${head.method} ${target.scheme}://${target.authority}${target.path.split("?")[0]}`,
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
  let sending: Promise<void> = Promise.resolve();
  const deadline = new ResponseDeadline(s.timeouts.responseMs, () => up.close());
  const fail = async (status: number | undefined, text: string): Promise<Exchange> => {
    deadline.stop();
    up.close();
    if (status !== undefined) await answer(s, status, text, head, { close: true });
    closeQuietly(s.conn);
    await sending;
    return { kind: "failed", stats };
  };
  try {
    up.buffer(outgoing.length).set(outgoing);
    await up.write(outgoing.length);
  } catch (e) {
    deadline.stop();
    if (mayRetry) return { kind: "retry" };
    stats.error = e;
    stats.failedSide = "upstream";
    return await fail(502, `${dest} failed: ${messageOf(e)}\n`);
  }
  const body = new BodyFramer(framing);
  let bodyError: unknown;
  sending = sendBody(s, body, up, stats, deadline).catch((e) => {
    bodyError = e;
  });
  const response = await relayResponse(s, head, origin, stats, deadline);
  deadline.stop();
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
    case "refused": {
      // No final response reached the client: it gets a 502, and keeps its connection when
      // every byte of its request was read (nothing of it can be taken for a next request).
      const text = `the origin's response was refused: ${response.reason}\n`;
      if (!body.done || !clientKeepsAlive(head)) return await fail(502, text);
      up.close();
      await sending;
      await answer(s, 502, text, head, { close: false });
      return { kind: "done", keepOrigin: false, keepClient: true, stats };
    }
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
    keepClient: response.keepClient,
    stats,
  };
}

/**
 * How long the origin may take to begin its final response: `ms` from the last byte of the
 * request sent (the client's body may take its time), not restarted by interim responses, so
 * an origin cannot hold the exchange open with a stream of them.
 */
class ResponseDeadline {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = performance.now();
  #stopped = false;
  fired = false;

  constructor(readonly ms: number, readonly onFire: () => void) {
    this.#arm(ms);
  }

  /** The request is still going out: the time counts from now. */
  progress(): void {
    this.#last = performance.now();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      const left = this.#last + this.ms - performance.now();
      if (left > 1) return this.#arm(left);
      this.fired = true;
      this.onFire();
    }, ms);
  }
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
  deadline: ResponseDeadline,
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
      deadline.progress();
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
    deadline.progress();
  }
}

type Relayed =
  | { kind: "done"; keepOrigin: boolean; keepClient: boolean; upgraded: boolean }
  /** No response began: the origin ended or failed first ("stale") or took too long. */
  | { kind: "stale" | "timeout"; error?: unknown }
  /** No final response head reached the client: it may still be told why, with a 502. */
  | { kind: "refused"; reason: string }
  /** Something broke once the final response had begun: the client can only be cut off. */
  | { kind: "broken" };

/** Relays interim responses (a few), then the final one, then its body. */
async function relayResponse(
  s: Session,
  request: RequestHead,
  origin: Origin,
  stats: PipeStats,
  deadline: ResponseDeadline,
): Promise<Relayed> {
  const { reader } = origin;
  let interims = 0;
  while (true) {
    const head = await readResponseHead(origin, deadline, interims === 0);
    if (head === "timeout") return { kind: "timeout" };
    if (typeof head === "object" && "stale" in head) return { kind: "stale", error: head.stale };
    if (typeof head === "string") {
      stats.error = new Error(head);
      stats.failedSide = "upstream";
      return { kind: "refused", reason: `not valid HTTP/1.x: ${head}` };
    }
    if (origin.proxyForm && head.status === 407) {
      // The user's proxy wants credentials ktctl does not have: say so, as for CONNECT.
      const step = `${request.method} through the upstream proxy ${origin.proxyForm.proxy}`;
      const schemes = authSchemesOf(fieldValues(head.fields, "proxy-authenticate"));
      stats.failedSide = "upstream";
      return {
        kind: "refused",
        reason: connectMessage(
          step,
          { status: 407, statusLine: "407", authSchemes: schemes },
          origin.proxyForm.credentials,
        ),
      };
    }
    const plan = planResponse(head, request, interims);
    if (plan.kind === "refuse") {
      stats.error = new Error(plan.reason);
      stats.failedSide = "upstream";
      return { kind: "refused", reason: plan.reason };
    }
    if (plan.kind === "interim") {
      // 100 Continue, 103 Early Hints: passed on (a complete message), then the real response.
      interims++;
      if (plan.head) await writeAll(s.conn, plan.head);
      continue;
    }
    deadline.stop();
    await writeAll(s.conn, plan.head);
    if (plan.kind === "upgrade") {
      const early = reader.takePending();
      if (early.length > 0) await writeAll(s.conn, early);
      stats.received += early.length;
      return { kind: "done", keepOrigin: false, keepClient: false, upgraded: true };
    }
    const body = new BodyFramer(plan.framing);
    try {
      const clean = await relayBody(s, body, reader, stats);
      return {
        kind: "done",
        keepOrigin: clean && plan.keepOrigin,
        keepClient: plan.keepClient,
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
 * ended before any byte of the first one, "timeout", or why it is malformed.
 */
async function readResponseHead(
  origin: Origin,
  deadline: ResponseDeadline,
  first: boolean,
): Promise<ResponseHead | { stale: unknown } | "timeout" | string> {
  const parser = responseHeadParser(RESPONSE_LIMITS);
  while (true) {
    const r = parser.parse(origin.reader.pending);
    if (r.status === "done") {
      origin.reader.consumePending(r.consumed);
      return r.head;
    }
    if (r.status === "invalid") return r.reason;
    let got: boolean;
    let error: unknown;
    try {
      got = await origin.reader.fetch();
    } catch (e) {
      [got, error] = [false, e];
    }
    if (deadline.fired) return "timeout";
    if (!got) {
      return first && origin.reader.pending.length === 0
        ? { stale: error }
        : "the origin closed mid-head";
    }
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
 * chunks only until the next read) into a buffer that grows by doubling, so a head that comes a
 * byte at a time costs copies linear in its length; body bytes pass straight to the client.
 */
export class UpstreamReader {
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;
  constructor(readonly upstream: Pick<Upstream, "read">) {}

  /** The bytes read and not yet used; each fetch keeps them and adds after them. */
  get pending(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Appends the next chunk to the pending bytes; false at the end. */
  async fetch(): Promise<boolean> {
    const chunk = await this.upstream.read();
    if (chunk === null) return false;
    const held = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buf.length) {
      const need = held + chunk.length;
      const into = need <= this.#buf.length / 2
        ? this.#buf
        : new Uint8Array(Math.max(4096, need * 2));
      into.set(this.#buf.subarray(this.#start, this.#end), 0);
      this.#buf = into;
      this.#start = 0;
      this.#end = held;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
    return true;
  }

  consumePending(n: number): void {
    this.#start += n;
  }

  takePending(): Uint8Array {
    const p = this.pending;
    this.#buf = new Uint8Array(0);
    this.#start = this.#end = 0;
    return p;
  }
}
