/** Waiting for a condition instead of sleeping. */

/**
 * Resolves once `predicate` holds (checked every 20 ms); rejects after `deadlineMs` with `what`
 * in the message.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  deadlineMs: number,
  what = "the condition",
): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
