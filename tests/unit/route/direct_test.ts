/**
 * TcpUpstream's reads over a real loopback socket: they start small (most connections carry a
 * small response) and grow while the upstream fills them, without losing or reordering a byte.
 */
import assert from "node:assert/strict";
import { TcpUpstream } from "../../../src/route/direct.ts";

async function pair(): Promise<[Deno.Conn, Deno.Conn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  listener.close();
  return [client, server];
}

Deno.test("TcpUpstream: reads start at 4 KiB, grow to 64 KiB, and keep every byte in order", async () => {
  const [client, server] = await pair();
  const upstream = new TcpUpstream(client, "test");
  const sent = new Uint8Array(1024 * 1024).map((_, i) => (i * 7 + (i >> 12)) & 0xff);
  const writing = (async () => {
    for (let off = 0; off < sent.length;) off += await server.write(sent.subarray(off));
    server.closeWrite();
  })();
  const got = new Uint8Array(sent.length);
  const sizes: number[] = [];
  let at = 0;
  for (let chunk; (chunk = await upstream.read()) !== null;) {
    sizes.push(chunk.length);
    got.set(chunk, at);
    at += chunk.length;
  }
  await writing;
  upstream.close();
  server.close();
  assert.equal(at, sent.length);
  assert.deepStrictEqual(got, sent);
  assert.ok(sizes[0] <= 4096, `first read ${sizes[0]} bytes`);
  assert.ok(Math.max(...sizes) <= 64 * 1024, `largest read ${Math.max(...sizes)} bytes`);
  assert.ok(sizes.some((n) => n > 16 * 1024), `reads grew past 16 KiB: ${sizes.slice(0, 12)}`);
});

Deno.test("TcpUpstream: a small response is one small read", async () => {
  const [client, server] = await pair();
  const upstream = new TcpUpstream(client, "test");
  await server.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  server.close();
  const chunk = await upstream.read();
  assert.equal(new TextDecoder().decode(chunk!), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  assert.equal(await upstream.read(), null);
  upstream.close();
});
