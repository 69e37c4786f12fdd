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

/**
 * Waits until `read()` gives the same value `samples` times in a row, `everyMs` apart (a
 * producer that has stopped, e.g. bytes pushed into a stalled client); returns that value.
 * Throws after `deadlineMs` if it never settles.
 */
export async function waitSteady(
  read: () => number,
  deadlineMs = 10_000,
  what = "the value",
  samples = 5,
  everyMs = 100,
): Promise<number> {
  const end = Date.now() + deadlineMs;
  let last = read(), same = 1;
  while (same < samples) {
    if (Date.now() > end) throw new Error(`${what} did not settle within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
    const now = read();
    same = now === last ? same + 1 : 1;
    last = now;
  }
  return last;
}
