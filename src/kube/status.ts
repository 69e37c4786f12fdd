/**
 * The message of a Kubernetes `Status` body (what the API server sends with a failed request),
 * read once for the API client and the port-forwards. The body is untrusted: anything that is not
 * a Status with a string message gives the body's own text, both cut to `max` characters.
 * @module
 */

/** How much of a message from the network is kept: enough for any real Status, no more. */
export const STATUS_MESSAGE_MAX = 300;

export function statusMessage(body: string, max = STATUS_MESSAGE_MAX): string {
  let message = body.trim();
  try {
    const parsed = JSON.parse(body) as { message?: unknown } | null;
    if (typeof parsed?.message === "string") message = parsed.message;
  } catch { /* not a Status */ }
  return message.slice(0, max);
}
