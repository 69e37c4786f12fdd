/**
 * Which protocol a new connection speaks, from its first byte: every mode listens for all three
 * on one port, so a user never has to match a proxy URL's scheme to ktctl's `--method`. SOCKS
 * starts with its version byte; an HTTP request starts with a method, which is a token (for
 * proxies in practice upper-case letters), or with the empty lines RFC 9112 lets a client send
 * before it.
 * @module
 */

export type Protocol = "socks4" | "socks5" | "http";

export function sniff(firstByte: number): Protocol | undefined {
  if (firstByte === 0x04) return "socks4";
  if (firstByte === 0x05) return "socks5";
  if ((firstByte >= 0x41 && firstByte <= 0x5a) || (firstByte >= 0x61 && firstByte <= 0x7a)) {
    return "http";
  }
  if (firstByte === 0x0d) return "http";
  return undefined;
}
