/**
 * Framing of the `v4.channel.k8s.io` port-forward protocol, for one forwarded port.
 *
 * Every WebSocket message is `[channel][payload]`: channel 0 carries the stream's data, channel 1
 * the server's error text. Before anything else the server sends, on each channel, the port
 * number as two little-endian bytes, which are not data. Pure code: the I/O side feeds messages
 * in and acts on what comes out.
 *
 * @example
 * ```ts
 * const decoder = new PortForwardDecoder();
 * decoder.push(new Uint8Array([0, 0x90, 0x1f])); // [] (port prefix of 8080 on the data channel)
 * decoder.push(new Uint8Array([0, 104, 105]));   // [{ kind: "data", bytes: "hi" }]
 * ```
 * @module
 */

export const DATA_CHANNEL = 0;
export const ERROR_CHANNEL = 1;
/** Subprotocols offered, best first. Port-forward never negotiates v5. */
export const PORT_FORWARD_PROTOCOLS = ["v4.channel.k8s.io"];

/** What one incoming message means to the tunnel. */
export type PortForwardEvent =
  | { kind: "data"; bytes: Uint8Array }
  | { kind: "error"; bytes: Uint8Array }
  | { kind: "port"; channel: number; port: number };

/** Turns server messages into events, removing each channel's two-byte port prefix. */
export class PortForwardDecoder {
  /** Bytes of the port prefix still expected on channels 0 and 1. */
  #prefixLeft = [2, 2];
  #prefix = [[0, 0], [0, 0]];

  /** Decodes one WebSocket message. Unknown channels and empty messages are protocol errors. */
  push(message: Uint8Array): PortForwardEvent[] {
    if (message.length === 0) throw new ProtocolError("empty port-forward message");
    const channel = message[0];
    if (channel !== DATA_CHANNEL && channel !== ERROR_CHANNEL) {
      throw new ProtocolError(`message on unexpected channel ${channel}`);
    }
    let payload = message.subarray(1);
    const events: PortForwardEvent[] = [];
    while (this.#prefixLeft[channel] > 0 && payload.length > 0) {
      const left = this.#prefixLeft[channel]--;
      this.#prefix[channel][2 - left] = payload[0];
      payload = payload.subarray(1);
      if (left === 1) {
        const [lo, hi] = this.#prefix[channel];
        events.push({ kind: "port", channel, port: lo | (hi << 8) });
      }
    }
    if (payload.length > 0) {
      events.push({ kind: channel === DATA_CHANNEL ? "data" : "error", bytes: payload });
    }
    return events;
  }
}

export class ProtocolError extends Error {
  override name = "ProtocolError";
}
