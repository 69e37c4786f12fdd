/**
 * Fuzzes the protobuf Service list decoder of `src/cluster/protobuf.ts` (every byte of a list
 * page comes from the network) with mutations of valid pages and random bytes.
 *
 * ```sh
 * deno run scripts/fuzz_protobuf.ts --iterations 100000
 * ```
 *
 * Properties checked for each input:
 * - a valid page decodes to all its items;
 * - a page cut anywhere before its object ends fails;
 * - changed, inserted or random bytes either decode or throw ProtoDecodeError, nothing else.
 * The same checks run for 1,500 iterations in `tests/unit/protobuf_test.ts`.
 * @module
 */
import { runProtobufFuzz } from "../tests/helpers/k8s_protobuf.ts";
import { toHex } from "../tests/helpers/fuzz.ts";

if (import.meta.main) {
  const arg = (flag: string, def: number) => {
    const i = Deno.args.indexOf(flag);
    return i >= 0 ? Number(Deno.args[i + 1]) : def;
  };
  const seed = arg("--seed", 1);
  const started = performance.now();
  const { iterations, failures } = runProtobufFuzz(seed, arg("--iterations", 100_000));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`iterations: ${iterations} in ${seconds} s (seed ${seed})`);
  for (const f of failures.slice(0, 20)) {
    const hex = toHex(f.input);
    console.log(
      `FAIL ${f.property} (${f.detail})\n  input (${f.input.length} bytes): ${hex.slice(0, 240)}${
        hex.length > 240 ? " ..." : ""
      }`,
    );
  }
  console.log(failures.length === 0 ? "no failures" : `${failures.length} failure(s)`);
  Deno.exit(failures.length === 0 ? 0 : 1);
}
