/**
 * ktctl's own answers to an HTTP proxy client: a status and a sentence a person can read, with
 * the failure's kind in `X-Ktctl-Error`; one place for what a dial failure or an unreachable
 * destination becomes, for CONNECT and forwarded requests alike.
 * @module
 */
import { closeQuietly, writeQuietly } from "../../net/io.ts";
import { DialError } from "../../net/upstream.ts";
import type { Dialed, DialHint } from "../dialer.ts";
import { dialFor, logRefusal, messageOf, type Session } from "../session.ts";
import type { RequestHead } from "./head.ts";
import { localResponse } from "./messages.ts";

/** Dials, answering the client when it fails; `close` says the client connection ends then. */
export async function dial(
  s: Session,
  head: RequestHead,
  host: string,
  port: number,
  dest: string,
  close: boolean,
  hint?: DialHint,
): Promise<Dialed | undefined> {
  try {
    return await dialFor(s, host, port, dest, hint);
  } catch (e) {
    const kind = await answerUnreachable(s, head, dest, e, close);
    logRefusal(s, dest, e, kind === "forbidden");
    return undefined;
  }
}

/**
 * Tells the client that `dest` could not be reached, whether the dial failed or the tunnel
 * learnt it only once data flowed (a pod that refuses the port): 504 for a time-out, else 502,
 * with the failure's kind in X-Ktctl-Error. Returns the kind.
 */
export async function answerUnreachable(
  s: Session,
  head: RequestHead,
  dest: string,
  e: unknown,
  close?: boolean,
): Promise<string> {
  const kind = e instanceof DialError ? e.kind : "failed";
  await answer(
    s,
    kind === "timeout" ? 504 : 502,
    `ktctl could not reach ${dest}: ${messageOf(e)}\n`,
    head,
    {
      close,
      reason: kind,
    },
  );
  return kind;
}

/** A response of ktctl's own; closes the connection unless told otherwise. */
export async function answer(
  s: Session,
  status: number,
  text: string,
  head?: RequestHead,
  opts: { close?: boolean; reason?: string } = {},
): Promise<void> {
  const close = opts.close ?? true;
  await writeQuietly(
    s.conn,
    localResponse(status, text, {
      close,
      head: head?.method === "HEAD",
      extra: opts.reason ? [["X-Ktctl-Error", opts.reason]] : [],
    }),
  );
  if (close) closeQuietly(s.conn);
}
