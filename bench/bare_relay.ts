/**
 * The smallest SOCKS5 relay Deno can run, for bench/c_proxies.ts's floor row: what a new
 * connection costs any Deno program here (accept, two sockets, a connect, the promises of two
 * copy loops), so that the table shows how much of ktctl's figure is Deno's and how much ktctl's.
 * Bench-only: no checks, no timeouts, no authentication; the client must send the greeting
 * (one method) and the request in separate writes, as bench/clients.ts's socks5 does. Prints
 * `port <n>` once listening on 127.0.0.1.
 * @module
 */
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(`port ${listener.addr.port}`);
const OK = new Uint8Array([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);

async function copy(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  for (let n; (n = await from.read(buf)) !== null;) {
    for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
  }
  await to.closeWrite();
}

async function serve(client: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(512);
  await client.read(buf); // greeting: 5, 1, 0
  await client.write(OK.subarray(0, 2));
  const n = (await client.read(buf))!; // 5, 1, 0, 3 (a name), length, name, port
  const host = new TextDecoder().decode(buf.subarray(5, 5 + buf[4]));
  const upstream = await Deno.connect({ hostname: host, port: buf[n - 2] << 8 | buf[n - 1] });
  await client.write(OK);
  await Promise.allSettled([copy(client, upstream), copy(upstream, client)]);
  client.close();
  upstream.close();
}

for await (const conn of listener) {
  serve(conn).catch(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  });
}
