/**
 * Fuzzes the SPDY frame reader of `src/net/spdy_frames.ts` (every byte of it comes from the
 * network) with random bytes and with mutations of valid frame sequences.
 *
 * ```sh
 * deno run scripts/fuzz_spdy.ts --iterations 200000
 * ```
 *
 * Properties checked for each input:
 * - the reader throws nothing but SpdyProtocolError;
 * - it never holds more than one frame's worth of bytes (the limit plus a header);
 * - fed in random pieces it gives the same frames, and fails or not, as fed in one piece;
 * - a DATA piece never exceeds the frame length limit.
 * The same checks run for a few thousand iterations in `tests/unit/spdy_frames_test.ts`.
 * @module
 */
import { runSpdyFuzz } from "../tests/helpers/fuzz_spdy.ts";
import { fuzzCommand } from "../tests/helpers/fuzz.ts";

if (import.meta.main) fuzzCommand(runSpdyFuzz);
