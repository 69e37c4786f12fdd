/**
 * A minimal SOCKS client for tests that need what curl cannot do: half-close, holding a
 * connection open without reading, or raw replies.
 * @module
 */
import { concat } from "../src/net/io.ts";
import { readExactly } from "./bytes.ts";

export { readExactly };

/** Connects through a SOCKS5 proxy to `host:port` (sent as a name); returns the reply code. */
export async function socks5Connect(
  proxyPort: number,
  host: string,
  port: number,
): Promise<{ conn: Deno.TcpConn; reply: number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  const name = new TextEncoder().encode(host);
  await conn.write(new Uint8Array([5, 1, 0]));
  await readExactly(conn, 2);
  await conn.write(new Uint8Array([5, 1, 0, 3, name.length, ...name, port >> 8, port & 0xff]));
  const reply = await readExactly(conn, 10);
  return { conn, reply: reply[1] };
}

/** Reads until the peer closes; returns everything read. */
export async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  return concat(parts);
}

export interface CurlResult {
  code: number;
  body: string;
  stderr: string;
}

/** Runs real curl through `proxy` (given as --proxy); returns its exit code and output. */
export function curl(proxy: string, url: string, extra: string[] = []): Promise<CurlResult> {
  return runCurl(["--max-time", "10", "--proxy", proxy, ...extra, url], {});
}

/** Runs real curl with `http_proxy` set in its environment, as a user would. */
export function curlWithEnv(httpProxy: string, url: string, extra: string[] = []) {
  return runCurl(["--max-time", "15", ...extra, url], { http_proxy: httpProxy, HTTP_PROXY: "" });
}

async function runCurl(args: string[], env: Record<string, string>): Promise<CurlResult> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", ...args],
    env: { no_proxy: "", NO_PROXY: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, body: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
