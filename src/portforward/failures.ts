/**
 * What a failed port-forward means to the user, shared by both transports: the text the server
 * sent, turned into an {@link DialError} whose kind picks the client's reply.
 * @module
 */
import { DialError } from "../net/upstream.ts";
import { statusMessage } from "../kube/status.ts";

/** The failure for a stream that ended before the port was announced. */
export function setupFailure(errorText: string): DialError {
  const text = errorText.trim();
  return new DialError(
    !text || /refused/i.test(text) ? "refused" : "failed",
    text || "the pod side closed before the stream was set up (nothing listens on the port?)",
  );
}

/** The failure the error channel's text stands for, once the stream was up. */
export function streamFailure(errorText: string): DialError {
  const text = errorText.trim();
  return new DialError(/refused/i.test(text) ? "refused" : "failed", text);
}

/** The API server answered the upgrade with `status` and a Status body. */
export function httpFailure(status: number, body: string, what: string): DialError {
  const kind = status === 404
    ? "not-found"
    : status === 401 || status === 403
    ? "forbidden"
    : "unreachable";
  return new DialError(
    kind,
    `port-forward to ${what} refused by the API server (${status}): ${statusMessage(body)}`,
  );
}
