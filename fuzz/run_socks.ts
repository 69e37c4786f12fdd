/**
 * Fuzzes the SOCKS parsers of `src/front/socks/protocol.ts` with random bytes and with mutations of
 * valid messages, checking properties every answer must have.
 *
 * ```sh
 * deno run fuzz/run_socks.ts --iterations 1000000
 * deno run fuzz/run_socks.ts --seconds 60 --seed 7
 * ```
 *
 * Prints the number of iterations run and, for every failure, the parser, the broken property
 * and the input in hex; exits with status 1 when anything failed. The same checks run (for a
 * few thousand iterations with a fixed seed) in `tests/unit/front/socks/fuzz_test.ts`; the generators
 * and checks live in `fuzz/socks.ts`.
 *
 * Properties checked for each parser and input:
 * - it never throws, and answers "more", "done" or "invalid";
 * - "done": 0 < consumed <= input length, parsing only the consumed bytes gives the same answer,
 *   and the value is well formed (port 1..65535, a host of the announced type, ...);
 * - "invalid": a SOCKS5 request always carries a 10-byte reply starting with 5 (and a non-zero
 *   code); a SOCKS4 request starting with 4 carries `00 5B ...`; a greeting starting with 5 carries
 *   `05 FF`;
 * - "more": only for inputs shorter than the longest message of that protocol;
 * - feeding the input byte by byte, the first answer that is not "more" equals the answer for the
 *   whole input, and every longer prefix gives that answer too;
 * - a generated valid message parses to exactly the value it was generated from, with or without
 *   pipelined bytes after it.
 * @module
 */
import { type FuzzOptions, runFuzz, toHex } from "./socks.ts";

function parseArgs(args: string[]): FuzzOptions {
  const opts: FuzzOptions = { seed: 1 };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    const value = inline ?? args[++i];
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n < 0) {
      throw new Error(`${flag} needs a non-negative number`);
    }
    if (flag === "--iterations") opts.iterations = Math.floor(n);
    else if (flag === "--seconds") opts.seconds = n;
    else if (flag === "--seed") opts.seed = Math.floor(n);
    else throw new Error(`unknown flag ${flag} (use --iterations N, --seconds S, --seed N)`);
  }
  if (opts.iterations === undefined && opts.seconds === undefined) opts.iterations = 100_000;
  return opts;
}

if (import.meta.main) {
  let opts: FuzzOptions;
  try {
    opts = parseArgs(Deno.args);
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const started = performance.now();
  let lastReport = started;
  const { iterations, failures } = runFuzz({
    ...opts,
    progress: (n) => {
      const now = performance.now();
      if (now - lastReport > 5000) {
        console.log(`... ${n} iterations`);
        lastReport = now;
      }
    },
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`iterations: ${iterations} in ${seconds} s (seed ${opts.seed})`);
  for (const f of failures) {
    console.log(`FAIL ${f.parser}: ${f.property}: ${f.detail}`);
    console.log(`  input (${f.input.length} bytes): ${toHex(f.input)}`);
  }
  console.log(failures.length === 0 ? "no failures" : `${failures.length} failure(s)`);
  Deno.exit(failures.length === 0 ? 0 : 1);
}
