/**
 * One client connection to ktctl's HTTP proxy: a loop of requests (keep-alive, pipelined ones in
 * turn), each one of
 * - `CONNECT host:port`: dial, answer 200, then pipe bytes both ways (TLS, WebSocket, anything);
 * - `GET http://host/path` (any method): to the origin and back (forward.ts), the origin's
 *   connection kept for the client's next request to it;
 * - a request to ktctl itself (`GET /proxy.pac`, `GET /`): answered locally.
 * Failures are answered with a status and a sentence a person can read (answer.ts).
 * @module
 */
import { closeQuietly, writeAll, writeQuietly } from "../../net/io.ts";
import { pipe } from "../../net/pipe.ts";
import { logRefusal, logTunnel, messageOf, type Session } from "../session.ts";
import { hostPort } from "../../net/client_address.ts";
import { requestFraming } from "./body.ts";
import { type RequestHead, requestHeadParser } from "./head.ts";
import { clientKeepsAlive, CONNECTED, localResponse, statusForProblem } from "./messages.ts";
import { loggableTarget, parseTarget, type Target } from "./target.ts";
import { answer, dial } from "./answer.ts";
import { forward, type Origin } from "./forward.ts";
import { OWN_PAGE_FIELDS, ownPageVerdict, PAGE_CSP } from "./own_pages.ts";

export async function serveHttp(s: Session): Promise<void> {
  let origin: Origin | undefined;
  try {
    for (let first = true;; first = false) {
      const head = await readRequestHead(s, first ? s.timeouts.handshakeMs : s.timeouts.idleMs);
      if (!head) return;
      const parsed = parseTarget(head.method, head.target);
      if (!parsed.ok) {
        await answer(s, 400, `${parsed.reason}\n`, head);
        logRefusal(s, loggableTarget(head.target), parsed.reason);
        return;
      }
      const target = parsed.target;
      if (
        target.form === "origin" ||
        (target.form === "absolute" && s.isSelf(target.host, target.port))
      ) {
        const authority = target.form === "absolute" ? target.authority : undefined;
        if (!(await serveLocal(s, head, target.path, authority))) return;
        continue;
      }
      if (target.form === "authority") {
        origin?.upstream.close();
        origin = undefined;
        return await tunnel(s, head, target);
      }
      if (target.scheme === "https" || target.scheme === "wss") {
        await answer(
          s,
          501,
          `send ${target.scheme}:// URLs with CONNECT, as HTTPS proxies expect\n`,
          head,
        );
        return;
      }
      const result = await forward(s, head, target, origin);
      origin = result.origin;
      if (!result.keepClient) return;
    }
  } finally {
    origin?.upstream.close();
  }
}

/** Reads the next request head within `ms`; undefined when the connection is done. */
async function readRequestHead(s: Session, ms: number): Promise<RequestHead | undefined> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    // An idle keep-alive connection is simply closed; a client stuck mid-head is told why.
    const bye = s.reader.length > 0
      ? writeQuietly(
        s.conn,
        localResponse(408, "the request head took too long\n", { close: true }),
      )
      : Promise.resolve();
    bye.finally(() => closeQuietly(s.conn));
  }, ms);
  // One parser for the whole head: each read adds to what it has seen, never parsed again.
  const parser = requestHeadParser();
  try {
    while (true) {
      const r = parser.parse(s.reader.bytes);
      if (r.status === "done") {
        s.reader.consume(r.consumed);
        return r.head;
      }
      if (r.status === "invalid") {
        await answer(s, statusForProblem(r.problem), `malformed request: ${r.reason}\n`);
        logRefusal(s, "?", `malformed request: ${r.reason}`);
        return undefined;
      }
      if (!(await s.reader.readMore())) return undefined;
    }
  } catch (e) {
    // Between requests (not a byte of the next head read), a connection that ends with an error
    // (ktctl stopping, a client resetting its idle keep-alive connection) simply ended.
    const idle = s.reader.length === 0;
    if (!timedOut && !idle) logRefusal(s, "?", `reading the request failed: ${messageOf(e)}`);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** `CONNECT host:port`: a plain tunnel, the same as a SOCKS connection. */
async function tunnel(
  s: Session,
  head: RequestHead,
  target: Extract<Target, { form: "authority" }>,
): Promise<void> {
  const started = performance.now();
  const dest = hostPort(target.host, target.port);
  if (s.isSelf(target.host, target.port)) {
    await answer(s, 400, "that is ktctl's own address: it does not proxy to itself\n", head);
    logRefusal(s, dest, "that is ktctl's own address");
    return;
  }
  const dialed = await dial(s, head, target.host, target.port, dest, true);
  if (!dialed) return;
  const { upstream, via } = dialed;
  if (!s.hold(upstream)) return;
  await writeAll(s.conn, CONNECTED);
  const stats = await pipe(s.conn, upstream, s.reader.take());
  logTunnel(s, { dest: `CONNECT ${dest}`, via, upstream, stats, started });
}

/**
 * Requests to ktctl itself: the PAC file, the live page and its JSON, only for ktctl's own
 * authority and never for another site's page (own_pages.ts). False when the connection ends.
 */
async function serveLocal(
  s: Session,
  head: RequestHead,
  path: string,
  absoluteAuthority?: string,
): Promise<boolean> {
  const framing = requestFraming(head);
  const bodyless = framing.ok && framing.framing.kind === "length" && framing.framing.length === 0;
  const close = !bodyless || !clientKeepsAlive(head);
  const isHead = head.method === "HEAD";
  const route = path.split("?")[0];
  const verdict = ownPageVerdict(
    { fields: head.fields, absoluteAuthority },
    s.conn.localAddr as Deno.NetAddr,
  );
  let reply: Uint8Array;
  if (!verdict.serve) {
    logRefusal(s, `${head.method} ${route}`, `ktctl's own page refused: ${verdict.reason}`, true);
    await writeAll(
      s.conn,
      localResponse(verdict.status, "", { close: true, extra: OWN_PAGE_FIELDS }),
    );
    return false;
  }
  if (head.method !== "GET" && !isHead) {
    reply = localResponse(405, "ktctl's own pages take GET\n", {
      close,
      extra: [["Allow", "GET, HEAD"]],
    });
  } else if (route === "/proxy.pac" || route === "/wpad.dat") {
    reply = localResponse(200, s.pages.pac(), {
      contentType: "application/x-ns-proxy-autoconfig",
      close,
      head: isHead,
      extra: OWN_PAGE_FIELDS,
    });
  } else if (route === "/") {
    reply = localResponse(200, s.pages.about(), {
      contentType: "text/html; charset=utf-8",
      close,
      head: isHead,
      extra: [...OWN_PAGE_FIELDS, PAGE_CSP],
    });
  } else if (route === "/api/status" && s.pages.status) {
    reply = localResponse(200, s.pages.status(), {
      contentType: "application/json; charset=utf-8",
      close,
      head: isHead,
      extra: OWN_PAGE_FIELDS,
    });
  } else {
    reply = localResponse(404, "ktctl serves / and /proxy.pac; everything else goes through it\n", {
      close,
      head: isHead,
    });
  }
  await writeAll(s.conn, reply);
  return !close;
}
