/** src/net/io.ts: closeOnce on a real TCP connection. */
import assert from "node:assert/strict";
import { closeOnce } from "../../../src/net/io.ts";

Deno.test("io: closeOnce closes a real connection once; later closes do nothing instead of throwing", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  try {
    assert.equal(closeOnce(client), client, "the same object back");
    client.close();
    // The far side sees the end: the first close really closed it.
    assert.equal(await server.read(new Uint8Array(8)), null);
    client.close();
    client.close();
    // Without closeOnce, Deno throws on the second close.
    const plain = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    (await listener.accept()).close();
    plain.close();
    assert.throws(() => plain.close(), Deno.errors.BadResource);
  } finally {
    server.close();
  }
});
