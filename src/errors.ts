/**
 * Errors meant for the user: one line that says what is wrong and what to do about it. Anything
 * else that escapes is a bug, and is shown with its stack under --debug.
 * @module
 */
export class UserError extends Error {
  override name = "UserError";
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}
