/**
 * Fuzzes the protobuf Service and Node list decoders of `src/kube/protobuf.ts` (every byte of a list
 * page comes from the network) with mutations of valid pages and random bytes.
 *
 * ```sh
 * deno run fuzz/run_protobuf.ts --iterations 100000
 * ```
 *
 * Properties checked for each input:
 * - a valid page decodes to all its items;
 * - a page cut anywhere before its object ends fails;
 * - changed, inserted or random bytes either decode or throw ProtoDecodeError, nothing else.
 * The same checks run for 1,500 iterations in `tests/unit/kube/protobuf_test.ts`.
 * @module
 */
import { runProtobufFuzz } from "../testenv/k8s_protobuf.ts";
import { fuzzCommand } from "./socks.ts";

if (import.meta.main) fuzzCommand(runProtobufFuzz);
