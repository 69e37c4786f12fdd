/**
 * SPDY/3.1 framing, as far as a port-forward client needs it: the frames it sends (SYN_STREAM,
 * DATA, RST_STREAM, PING, GOAWAY) and every frame a server may send, decoded from a byte stream
 * that arrives in arbitrary pieces (the API server tunnels SPDY through WebSocket messages whose
 * boundaries mean nothing). Pure: the I/O is in `spdy_session.ts`.
 *
 * Header blocks are the one odd part of SPDY/3: they are zlib-compressed with one stream per
 * direction for the whole connection. ktctl writes its (tiny) header blocks as zlib "stored"
 * blocks, which every inflater accepts without the SPDY dictionary, and never needs to read the
 * server's: a port-forward reply carries no headers worth reading, so a SYN_REPLY's block is
 * skipped unread.
 *
 * @example
 * ```ts
 * const headers = new StoredZlib();
 * const syn = encodeSynStream(1, headers.compress(encodeHeaderBlock([["port", "80"]])));
 * const reader = new SpdyFrameReader();
 * reader.push(serverBytes); // => [{ kind: "synReply", streamId: 1, fin: false }, ...]
 * ```
 * @module
 */

export const SPDY_VERSION = 3;
export const FrameType = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;
export const FLAG_FIN = 0x01;
/** RST_STREAM status codes (SPDY/3 section 2.6.3). */
export const RstStatus = { protocolError: 1, refusedStream: 3, cancel: 5 } as const;
/** The largest frame payload the 24-bit length field can carry. */
export const MAX_FRAME_LENGTH = 0xffffff;

/** A frame from the server, reduced to what a client acts on. */
export type SpdyFrame =
  | { kind: "data"; streamId: number; fin: boolean; data: Uint8Array }
  | { kind: "synStream"; streamId: number }
  | { kind: "synReply"; streamId: number; fin: boolean }
  | { kind: "headers"; streamId: number; fin: boolean }
  | { kind: "rstStream"; streamId: number; status: number }
  | { kind: "ping"; id: number }
  | { kind: "goAway"; lastStreamId: number; status: number }
  /** SETTINGS, WINDOW_UPDATE and unknown types: nothing to do (SPDY says ignore unknown ones). */
  | { kind: "ignored"; type: number };

export class SpdyProtocolError extends Error {
  override name = "SpdyProtocolError";
}

const STREAM_ID_MASK = 0x7fffffff;

function controlHeader(type: number, flags: number, length: number): Uint8Array {
  const out = new Uint8Array(8 + length);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0x8000 | SPDY_VERSION);
  view.setUint16(2, type);
  view.setUint32(4, (flags << 24) | length);
  return out;
}

/** SYN_STREAM with priority 0 and no associated stream; `headerBlock` is already compressed. */
export function encodeSynStream(
  streamId: number,
  headerBlock: Uint8Array,
  fin = false,
): Uint8Array {
  const out = controlHeader(FrameType.synStream, fin ? FLAG_FIN : 0, 10 + headerBlock.length);
  new DataView(out.buffer).setUint32(8, streamId & STREAM_ID_MASK);
  out.set(headerBlock, 18);
  return out;
}

/** The 8 bytes that precede a DATA frame's payload, written into `into` at `offset`. */
export function writeDataHeader(
  into: Uint8Array,
  offset: number,
  streamId: number,
  length: number,
  fin = false,
): void {
  if (length > MAX_FRAME_LENGTH) throw new RangeError(`DATA frame of ${length} bytes`);
  const view = new DataView(into.buffer, into.byteOffset + offset, 8);
  view.setUint32(0, streamId & STREAM_ID_MASK);
  view.setUint32(4, ((fin ? FLAG_FIN : 0) << 24) | length);
}

export function encodeData(streamId: number, data: Uint8Array, fin = false): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  writeDataHeader(out, 0, streamId, data.length, fin);
  out.set(data, 8);
  return out;
}

export function encodeRstStream(streamId: number, status: number): Uint8Array {
  const out = controlHeader(FrameType.rstStream, 0, 8);
  const view = new DataView(out.buffer);
  view.setUint32(8, streamId & STREAM_ID_MASK);
  view.setUint32(12, status);
  return out;
}

export function encodePing(id: number): Uint8Array {
  const out = controlHeader(FrameType.ping, 0, 4);
  new DataView(out.buffer).setUint32(8, id);
  return out;
}

/**
 * The uncompressed SPDY/3 name/value block: a 32-bit count, then each name and value with a
 * 32-bit length. Names must be lower case (SPDY/3 section 2.6.10).
 */
export function encodeHeaderBlock(pairs: [string, string][]): Uint8Array {
  const enc = new TextEncoder();
  const parts = pairs.flatMap(([n, v]) => {
    if (n !== n.toLowerCase() || n === "") throw new RangeError(`bad header name ${n}`);
    return [enc.encode(n), enc.encode(v)];
  });
  const out = new Uint8Array(4 + parts.reduce((a, p) => a + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  view.setUint32(0, pairs.length);
  let off = 4;
  for (const p of parts) {
    view.setUint32(off, p.length);
    out.set(p, off + 4);
    off += 4 + p.length;
  }
  return out;
}

/**
 * One direction's zlib stream of header blocks, written as stored (uncompressed) deflate blocks:
 * the zlib header once, then per header block its bytes in non-final stored blocks and an empty
 * stored block, which is what a sync flush emits and what makes an inflater (Go's included)
 * hand over the block's bytes before it has seen the next one. No preset dictionary is
 * announced, so none is needed.
 */
export class StoredZlib {
  #started = false;

  compress(raw: Uint8Array): Uint8Array {
    const blocks = Math.ceil(raw.length / 0xffff);
    const prefix = this.#started ? 0 : 2;
    const out = new Uint8Array(prefix + (blocks + 1) * 5 + raw.length);
    if (!this.#started) {
      // CMF 0x78 (deflate, 32 KiB window), FLG 0x01: no dictionary, (0x7801 % 31) === 0.
      out[0] = 0x78;
      out[1] = 0x01;
      this.#started = true;
    }
    let off = prefix;
    for (let i = 0; i <= blocks; i++) {
      const chunk = raw.subarray(i * 0xffff, (i + 1) * 0xffff); // empty for the flush block
      out[off] = 0x00; // BFINAL 0, BTYPE 00 (stored)
      out[off + 1] = chunk.length & 0xff;
      out[off + 2] = chunk.length >> 8;
      out[off + 3] = ~chunk.length & 0xff;
      out[off + 4] = (~chunk.length >> 8) & 0xff;
      out.set(chunk, off + 5);
      off += 5 + chunk.length;
    }
    return out;
  }
}

/**
 * The 8 bytes every frame starts with (`buf` holds at least those): whether it is a control
 * frame, its payload length (refused over `maxLength` before anything is buffered), its FIN flag
 * and, for DATA, its stream, which must not be 0.
 */
function decodeFrameHeader(
  buf: Uint8Array,
  maxLength: number,
): { control: boolean; length: number; fin: boolean; streamId: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, 8);
  const length = view.getUint32(4) & 0xffffff;
  if (length > maxLength) throw new SpdyProtocolError(`frame of ${length} bytes is too large`);
  const control = (buf[0] & 0x80) !== 0;
  const streamId = view.getUint32(0) & STREAM_ID_MASK;
  if (!control && streamId === 0) throw new SpdyProtocolError("DATA frame on stream 0");
  return { control, length, fin: (buf[4] & FLAG_FIN) !== 0, streamId };
}

/**
 * Decodes the frame at the front of `buf`: the frame and the bytes it took, or undefined when
 * more bytes are needed. Frames longer than `maxLength` are refused before they are buffered.
 */
export function decodeSpdyFrame(
  buf: Uint8Array,
  maxLength: number,
): { frame: SpdyFrame; size: number } | undefined {
  if (buf.length < 8) return undefined;
  const { control, length, fin, streamId } = decodeFrameHeader(buf, maxLength);
  if (buf.length < 8 + length) return undefined;
  const size = 8 + length;
  if (!control) {
    return { frame: { kind: "data", streamId, fin, data: buf.subarray(8, size) }, size };
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const version = view.getUint16(0) & 0x7fff;
  if (version !== SPDY_VERSION) throw new SpdyProtocolError(`SPDY version ${version}`);
  const type = view.getUint16(2);
  const need = (min: number, exact = false) => {
    if (exact ? length !== min : length < min) {
      throw new SpdyProtocolError(`control frame ${type} with length ${length}`);
    }
  };
  const u32 = (at: number) => view.getUint32(8 + at);
  switch (type) {
    case FrameType.synStream:
      need(10);
      return { frame: { kind: "synStream", streamId: u32(0) & STREAM_ID_MASK }, size };
    case FrameType.synReply:
      need(4);
      return { frame: { kind: "synReply", streamId: u32(0) & STREAM_ID_MASK, fin }, size };
    case FrameType.headers:
      need(4);
      return { frame: { kind: "headers", streamId: u32(0) & STREAM_ID_MASK, fin }, size };
    case FrameType.rstStream:
      need(8, true);
      return {
        frame: { kind: "rstStream", streamId: u32(0) & STREAM_ID_MASK, status: u32(4) },
        size,
      };
    case FrameType.ping:
      need(4, true);
      return { frame: { kind: "ping", id: u32(0) }, size };
    case FrameType.goAway:
      need(8, true);
      return {
        frame: { kind: "goAway", lastStreamId: u32(0) & STREAM_ID_MASK, status: u32(4) },
        size,
      };
    default:
      return { frame: { kind: "ignored", type }, size };
  }
}

/**
 * Reassembles frames from pieces of any size. A DATA frame's payload is passed on as it arrives,
 * as views of the pieces (one frame may come out as several `data` frames, `fin` on the last):
 * no copy, and no waiting for the rest of a large frame. Control frames are assembled whole.
 */
export class SpdyFrameReader {
  #pieces: Uint8Array[] = [];
  #buffered = 0;
  /** The DATA frame being passed through: its stream, bytes still to come, and its FIN flag. */
  #data: { streamId: number; left: number; fin: boolean } | undefined;

  constructor(readonly maxLength = 8 * 1024 * 1024) {}

  /** Bytes held back waiting for the rest of their frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Adds bytes; returns the frames they complete. Throws SpdyProtocolError on bad input. DATA
   * payloads are views into `bytes`, to be used before the caller reuses them; what the reader
   * keeps for later (the start of an unfinished frame) it copies, so `bytes` may be a reused
   * buffer.
   */
  push(bytes: Uint8Array): SpdyFrame[] {
    if (bytes.length > 0) {
      this.#pieces.push(bytes);
      this.#buffered += bytes.length;
    }
    const frames: SpdyFrame[] = [];
    while (true) {
      if (this.#data) {
        const d = this.#data;
        if (d.left > 0 && this.#buffered === 0) break;
        const data = d.left > 0 ? this.#take(d.left) : new Uint8Array(0);
        d.left -= data.length;
        const last = d.left === 0;
        frames.push({ kind: "data", streamId: d.streamId, fin: last && d.fin, data });
        if (last) this.#data = undefined;
        continue;
      }
      if (this.#buffered < 8) break;
      if (this.#pieces[0].length < 8) this.#join(8);
      const head = this.#pieces[0];
      const { control, length, fin, streamId } = decodeFrameHeader(head, this.maxLength);
      if (!control) {
        this.#data = { streamId, left: length, fin };
        this.#skip(8);
        continue;
      }
      if (this.#buffered < 8 + length) break;
      if (head.length < 8 + length) this.#join(8 + length);
      const first = this.#pieces[0];
      const decoded = decodeSpdyFrame(first.subarray(0, 8 + length), this.maxLength)!;
      frames.push(decoded.frame);
      this.#skip(decoded.size);
    }
    for (let i = 0; i < this.#pieces.length; i++) {
      if (this.#pieces[i].buffer === bytes.buffer) this.#pieces[i] = this.#pieces[i].slice();
    }
    return frames;
  }

  /** Up to `max` bytes from the front piece, without copying. */
  #take(max: number): Uint8Array {
    const p = this.#pieces[0];
    const out = p.length <= max ? p : p.subarray(0, max);
    this.#skip(out.length);
    return out;
  }

  /** Drops `n` bytes from the front (all within the first piece). */
  #skip(n: number): void {
    const p = this.#pieces[0];
    if (p.length === n) this.#pieces.shift();
    else this.#pieces[0] = p.subarray(n);
    this.#buffered -= n;
  }

  /** Makes the first piece at least `n` bytes long. */
  #join(n: number): void {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const p = this.#pieces[0];
      const take = Math.min(p.length, n - off);
      out.set(p.subarray(0, take), off);
      off += take;
      if (take === p.length) this.#pieces.shift();
      else this.#pieces[0] = p.subarray(take);
    }
    this.#pieces.unshift(out);
  }
}
