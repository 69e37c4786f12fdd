/**
 * The V8 flags ktctl runs with, wherever this project starts it (the benchmark's default for
 * `--ktctl-v8-flags`). None so far.
 * @module
 */
export const KTCTL_V8_FLAGS: readonly string[] = [];
