/**
 * Waiting for a condition in tests, with a deadline instead of a guessed sleep.
 * @module
 */

/** Polls `predicate` every `everyMs` until it holds; throws after `deadlineMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  deadlineMs = 10_000,
  what = "the condition",
  everyMs = 20,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`${what} did not hold within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
