/**
 * The SPDY frame reader fuzzer's generators and property checks, shared by `fuzz/run_spdy.ts`
 * (long runs) and `tests/unit/net/spdy_frames_test.ts`. The properties are listed in the script.
 * @module
 */
import { encodeGoAway } from "../testenv/spdy_peer.ts";
import {
  encodeData,
  encodePing,
  encodeRstStream,
  type SpdyFrame,
  SpdyFrameReader,
  SpdyProtocolError,
} from "../src/net/spdy_frames.ts";
import { Rng } from "./rng.ts";
import type { PropertyFailure } from "./socks.ts";
import { concat } from "../src/net/io.ts";

const LIMIT = 4096;

/** A plausible server byte stream: frames of every kind, some empty, some large. */
function validStream(rng: Rng): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let n = rng.int(6) + 1; n > 0; n--) {
    const id = rng.int(50) * 2 + 1;
    switch (rng.int(6)) {
      case 0:
      case 1:
        parts.push(
          encodeData(id, new Uint8Array(rng.int(3000)).map(() => rng.int(256)), rng.int(2) === 0),
        );
        break;
      case 2:
        parts.push(encodeRstStream(id, rng.int(12)));
        break;
      case 3:
        parts.push(encodePing(rng.int(1000)));
        break;
      case 4:
        parts.push(encodeGoAway(id));
        break;
      default: // SYN_REPLY with an opaque header block
        parts.push(new Uint8Array([0x80, 3, 0, 2, 0, 0, 0, 6, 0, 0, 0, id, 0x78, 1]));
    }
  }
  return concat(parts);
}

function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  const out = [...input];
  for (let n = rng.int(4) + 1; n > 0 && out.length > 0; n--) {
    const at = rng.int(out.length);
    switch (rng.int(4)) {
      case 0:
        out[at] = rng.int(256);
        break;
      case 1:
        out[at] ^= 1 << rng.int(8);
        break;
      case 2:
        out.splice(at, rng.int(8) + 1);
        break;
      default:
        out.splice(at, 0, ...Array.from({ length: rng.int(8) + 1 }, () => rng.int(256)));
    }
  }
  return new Uint8Array(out);
}

type Outcome = { frames: SpdyFrame[]; error?: string };

/**
 * Feeds `input` in the given piece sizes, checking the per-push properties. Each piece arrives
 * in one scratch buffer that is overwritten after the push, as the WebSocket client's buffer is:
 * DATA is copied out at once, and whatever the reader kept must be its own.
 */
function feed(input: Uint8Array, sizes: number[], problems: string[]): Outcome {
  const reader = new SpdyFrameReader(LIMIT);
  const frames: SpdyFrame[] = [];
  const scratch = new Uint8Array(Math.max(0, ...sizes));
  let off = 0;
  for (const size of sizes) {
    try {
      scratch.set(input.subarray(off, off + size));
      for (const f of reader.push(scratch.subarray(0, size))) {
        frames.push(f.kind === "data" ? { ...f, data: f.data.slice() } : f);
      }
      scratch.fill(0xa5);
    } catch (e) {
      if (!(e instanceof SpdyProtocolError)) problems.push(`threw ${e}`);
      return { frames, error: String(e) };
    }
    off += size;
    if (reader.buffered > LIMIT + 8) problems.push(`holds ${reader.buffered} bytes`);
  }
  return { frames };
}

/**
 * The frames as a consumer sees them: consecutive DATA pieces of one stream joined (piece
 * boundaries depend on how the bytes arrived), everything else as it came.
 */
function joined(frames: SpdyFrame[], problems: string[]): string {
  const out: { kind: string; streamId?: number; data?: number[]; fin?: boolean }[] = [];
  for (const f of frames) {
    if (f.kind === "data" && f.data.length > LIMIT) {
      problems.push(`DATA piece of ${f.data.length} bytes`);
    }
    const last = out.at(-1);
    if (f.kind === "data" && last?.kind === "data" && last.streamId === f.streamId && !last.fin) {
      last.data!.push(...f.data);
      last.fin = f.fin;
    } else if (f.kind === "data") {
      out.push({ kind: "data", streamId: f.streamId, data: [...f.data], fin: f.fin });
    } else {
      out.push(f);
    }
  }
  return JSON.stringify(out);
}

export function spdyFuzzIteration(rng: Rng): PropertyFailure[] {
  const kind = rng.int(3);
  const input = kind === 0
    ? new Uint8Array(rng.int(64)).map(() => rng.int(256))
    : kind === 1
    ? validStream(rng)
    : mutate(rng, validStream(rng));
  const problems: string[] = [];
  const whole = feed(input, [input.length], problems);
  const sizes: number[] = [];
  for (let left = input.length; left > 0;) {
    const n = Math.min(left, rng.int(3) === 0 ? rng.int(9) + 1 : rng.int(2000) + 1);
    sizes.push(n);
    left -= n;
  }
  const split = feed(input, sizes, problems);
  if ((whole.error === undefined) !== (split.error === undefined)) {
    problems.push(`whole: ${whole.error ?? "ok"}, split: ${split.error ?? "ok"}`);
  } else if (whole.error === undefined) {
    // Undelimited DATA pieces may end at different places; joined they must agree.
    const a = joined(whole.frames, problems);
    const b = joined(split.frames, problems);
    if (a !== b) problems.push("split input gave other frames");
  }
  return problems.map((p) => ({ property: p, detail: `kind ${kind}`, input }));
}

export function runSpdyFuzz(
  seed: number,
  iterations: number,
): { iterations: number; failures: PropertyFailure[] } {
  const rng = new Rng(seed);
  const failures: PropertyFailure[] = [];
  let i = 0;
  for (; i < iterations && failures.length < 20; i++) failures.push(...spdyFuzzIteration(rng));
  return { iterations: i, failures };
}
