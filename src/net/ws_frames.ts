/**
 * RFC 6455 frames for a WebSocket client: encoding masked client frames and decoding server
 * frames from a byte stream. Pure, so every byte a server may send is testable; the I/O is in
 * `ws_client.ts`.
 * @module
 */

export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Encodes one masked client frame (clients must mask, RFC 6455 section 5.3). */
export function encodeClientFrame(
  opcode: number,
  payload: Uint8Array,
  mask: Uint8Array = crypto.getRandomValues(new Uint8Array(4)),
): Uint8Array {
  const out = new Uint8Array(clientFrameSize(payload.length));
  writeClientFrame(out, opcode, payload, mask);
  return out;
}

/** The encoded size of a client frame with `n` payload bytes. */
export function clientFrameSize(n: number): number {
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + 4 + n;
}

/**
 * Encodes a masked client frame at the start of `out` (at least {@link clientFrameSize} long),
 * so a sender can reuse one buffer for every frame; returns the frame's size. The payload may
 * come in parts, which the frame carries one after the other.
 */
export function writeClientFrame(
  out: Uint8Array,
  opcode: number,
  payload: Uint8Array | readonly Uint8Array[],
  mask: Uint8Array,
): number {
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  const n = parts.reduce((sum, p) => sum + p.length, 0);
  const size = clientFrameSize(n);
  if (out.length < size) throw new RangeError(`a frame of ${size} bytes does not fit`);
  const header = size - 4 - n;
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out[2] = n >> 8;
    out[3] = n & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer, out.byteOffset).setBigUint64(2, BigInt(n));
  }
  out.set(mask, header);
  let at = header + 4;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  maskInPlace(out, header + 4, mask, size);
  return size;
}

/**
 * XORs `buf[start..end]` with the 4-byte `mask` (byte i of the payload with mask[i % 4]), four
 * bytes at a time: byte by byte up to the first 4-aligned offset of `buf`'s buffer, then 32-bit
 * words with the mask rotated to that alignment (a word read through a Uint32Array has the
 * platform's byte order both times, so the result is the same on any endianness), then the tail.
 */
function maskInPlace(buf: Uint8Array, start: number, mask: Uint8Array, end: number): void {
  const abs = buf.byteOffset + start;
  let i = start;
  const head = Math.min(end, start + ((4 - (abs & 3)) & 3));
  for (; i < head; i++) buf[i] = buf[i] ^ mask[(i - start) & 3];
  const words = (end - i) >>> 2;
  if (words > 0) {
    const shift = i - start;
    const rotated = new Uint8Array(4);
    for (let k = 0; k < 4; k++) rotated[k] = mask[(shift + k) & 3];
    const m = new Uint32Array(rotated.buffer)[0];
    const view = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] ^= m;
    i += words * 4;
  }
  for (; i < end; i++) buf[i] = buf[i] ^ mask[(i - start) & 3];
}

export class FrameError extends Error {
  override name = "FrameError";
}

/**
 * Parses one frame from the front of `buf`: the frame and its length, or undefined when more
 * bytes are needed. Rejects masked server frames, reserved bits, unknown opcodes, fragmented
 * or oversized control frames, and payloads over `maxPayload`.
 */
export function decodeFrame(
  buf: Uint8Array,
  maxPayload: number,
): { frame: Frame; size: number } | undefined {
  if (buf.length < 2) return undefined;
  const fin = (buf[0] & 0x80) !== 0;
  if (buf[0] & 0x70) throw new FrameError("reserved bits set");
  const opcode = buf[0] & 0x0f;
  if (![0, 1, 2, 8, 9, 10].includes(opcode)) throw new FrameError(`unknown opcode ${opcode}`);
  if (buf[1] & 0x80) throw new FrameError("server frames must not be masked");
  let length = buf[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buf.length < 4) return undefined;
    length = (buf[2] << 8) | buf[3];
    offset = 4;
  } else if (length === 127) {
    if (buf.length < 10) return undefined;
    const big = new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0);
    if (big > BigInt(maxPayload)) throw new FrameError(`frame of ${big} bytes is too large`);
    length = Number(big);
    offset = 10;
  }
  if (opcode >= 8 && (!fin || length > 125)) throw new FrameError("invalid control frame");
  if (length > maxPayload) throw new FrameError(`frame of ${length} bytes is too large`);
  if (buf.length < offset + length) return undefined;
  return {
    frame: { fin, opcode, payload: buf.subarray(offset, offset + length) },
    size: offset + length,
  };
}
