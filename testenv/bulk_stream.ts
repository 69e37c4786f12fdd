/**
 * The bulk servers' payload: a deterministic pseudo-random byte stream named by a seed (the
 * request that asked for it), so both ends of a bulk transfer can produce or check it byte for
 * byte. A stream of one repeated byte would let reordered, repeated or dropped 32 KiB blocks
 * pass; this one does not, and its SHA-256 names a whole transfer in one line.
 *
 * The stream is the AES-128-CTR keystream (WebCrypto, native: gigabytes a second, so the
 * benchmarks' bulk servers are not slowed by it) under the key SHA-256("ktctl-bulk:" + seed)
 * [0..16), counter = the 16-byte block index. Any language with AES-CTR can reproduce it.
 * @module
 */
import { createHash } from "node:crypto";

const enc = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function keyOf(seed: string): Promise<CryptoKey> {
  let key = keys.get(seed);
  if (!key) {
    key = crypto.subtle.digest("SHA-256", enc.encode(`ktctl-bulk:${seed}`)).then((d) =>
      crypto.subtle.importKey("raw", new Uint8Array(d).subarray(0, 16), "AES-CTR", false, [
        "encrypt",
      ])
    );
    if (keys.size > 1000) keys.clear();
    keys.set(seed, key);
  }
  return key;
}

/** Bytes [offset, offset + length) of the stream of `seed`. */
export async function streamBytes(
  seed: string,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const first = Math.floor(offset / 16);
  const skip = offset - first * 16;
  const counter = new Uint8Array(16);
  new DataView(counter.buffer).setBigUint64(8, BigInt(first));
  const zeros = new Uint8Array(skip + length);
  const out = await crypto.subtle.encrypt(
    { name: "AES-CTR", counter, length: 64 },
    await keyOf(seed),
    zeros,
  );
  return new Uint8Array(out, skip, length);
}

/** The stream of `seed` in chunks of up to `chunk` bytes, `total` in all. */
export async function* streamChunks(
  seed: string,
  total: number,
  chunk = 64 * 1024,
): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < total; offset += chunk) {
    yield await streamBytes(seed, offset, Math.min(chunk, total - offset));
  }
}

/** The SHA-256 (hex) of the first `total` bytes of the stream of `seed`. */
export async function streamDigest(seed: string, total: number): Promise<string> {
  const hash = createHash("sha256");
  for await (const part of streamChunks(seed, total, 1024 * 1024)) hash.update(part);
  return hash.digest("hex");
}

/**
 * Checks bytes arriving in order against the stream of `seed`: `push` each piece as it comes,
 * then `result()` says how many matched, where the first difference is, and the digest of what
 * arrived.
 */
export class StreamCheck {
  #hash = createHash("sha256");
  #offset = 0;
  #firstDifference: number | undefined;
  constructor(readonly seed: string) {}

  async push(piece: Uint8Array): Promise<void> {
    this.#hash.update(piece);
    if (this.#firstDifference === undefined) {
      const want = await streamBytes(this.seed, this.#offset, piece.length);
      for (let i = 0; i < piece.length; i++) {
        if (piece[i] !== want[i]) {
          this.#firstDifference = this.#offset + i;
          break;
        }
      }
    }
    this.#offset += piece.length;
  }

  /** How many bytes arrived so far, and where the first difference is (if any). */
  progress(): { bytes: number; firstDifference: number | undefined } {
    return { bytes: this.#offset, firstDifference: this.#firstDifference };
  }

  result(): { bytes: number; firstDifference: number | undefined; sha256: string } {
    return {
      bytes: this.#offset,
      firstDifference: this.#firstDifference,
      sha256: this.#hash.digest("hex"),
    };
  }
}

/** A fresh seed token for one transfer (so no two transfers carry the same bytes). */
export function freshToken(): string {
  return crypto.randomUUID().replaceAll("-", "");
}
