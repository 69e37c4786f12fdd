/**
 * src/net/tcp_listen.ts: the accept loop every ktctl port runs on (the proxy's and the forwards'):
 * the cap on open connections, and closing the listener closes what is open.
 */
import assert from "node:assert/strict";
import { AcceptLoop, ListenError, listenTcp } from "../../../src/net/tcp_listen.ts";
import { waitFor } from "../../helpers/wait.ts";

/** Reads until the far side closes (at most 5 s); the bytes read. */
async function drain(conn: Deno.Conn): Promise<number> {
  const buf = new Uint8Array(64);
  let total = 0;
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return total;
      total += n;
    }
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("accept loop: past maxConnections a connection is closed unserved, and said once each", async () => {
  const loop = new AcceptLoop(listenTcp("127.0.0.1", 0));
  const held: Deno.Conn[] = [];
  let full = 0;
  const release = Promise.withResolvers<void>();
  const running = loop.run({
    maxConnections: 2,
    handle: async (conn) => {
      await conn.write(new TextEncoder().encode("hi"));
      await release.promise;
    },
    onAcceptError: () => {
      throw new Error("no accept should fail here");
    },
    onFull: () => full++,
  });
  const port = loop.addr.port;
  try {
    for (let i = 0; i < 2; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      held.push(c);
      const buf = new Uint8Array(2);
      assert.equal(await c.read(buf), 2, "an admitted connection is served");
    }
    await waitFor(() => loop.open === 2, 5_000, "two connections open");
    const third = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await drain(third), 0, "the third is closed without a byte");
    third.close();
    assert.equal(full, 1);
    assert.equal(loop.open, 2);
  } finally {
    release.resolve();
    await loop.close();
    await running;
  }
  // Closing the loop closed what was open: the clients see the end.
  for (const c of held) {
    assert.equal(await drain(c), 0);
    c.close();
  }
  assert.equal(loop.open, 0);
});

Deno.test("accept loop: closing ends open connections that never finish", async () => {
  const loop = new AcceptLoop(listenTcp("127.0.0.1", 0));
  const running = loop.run({
    maxConnections: 10,
    handle: () => new Promise(() => {}), // a session that never ends by itself
    onAcceptError: () => {},
    onFull: () => {},
  });
  const c = await Deno.connect({ hostname: "127.0.0.1", port: loop.addr.port });
  await waitFor(() => loop.open === 1, 5_000, "the connection accepted");
  await loop.close();
  await running;
  assert.equal(await drain(c), 0);
  c.close();
});

Deno.test("listenTcp: a taken port is a ListenError that names the address", () => {
  const first = listenTcp("127.0.0.1", 0);
  try {
    assert.throws(
      () => listenTcp("127.0.0.1", first.addr.port),
      (e: unknown) =>
        e instanceof ListenError && e.kind === "in-use" &&
        e.message === `127.0.0.1:${first.addr.port} is already in use`,
    );
  } finally {
    first.close();
  }
});
