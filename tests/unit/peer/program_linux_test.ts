/**
 * Naming the client program on Linux (program_linux.ts) with a real curl: found with its pid, and
 * still found when the event loop is busy between the scan's slices (a loaded ktctl: other
 * connections, the live page), since only the scan's own work counts against its budget.
 */
import assert from "node:assert/strict";
import { programOfSocket } from "../../../src/peer/program_linux.ts";
import { netlinkOwnerLookup } from "../../../src/peer/owner_netlink.ts";

const linux = Deno.build.os === "linux";
const opts = { ignore: !linux, sanitizeOps: false, sanitizeResources: false };

/** A real curl connected to a listener of ours; its socket's inode and owner, from sock_diag. */
async function connectedCurl() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const child = new Deno.Command("curl", {
    args: ["-sS", "--max-time", "20", `http://127.0.0.1:${listener.addr.port}/`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const conn = await listener.accept();
  const lookup = netlinkOwnerLookup();
  const owner = await lookup(conn.localAddr as Deno.NetAddr, conn.remoteAddr as Deno.NetAddr);
  lookup.close();
  assert.ok(owner?.inode, "sock_diag gave the client socket's inode");
  return {
    pid: child.pid,
    inode: owner.inode,
    uid: owner.uid,
    async [Symbol.asyncDispose]() {
      conn.close();
      listener.close();
      try {
        child.kill();
      } catch { /* ended */ }
      await child.status;
    },
  };
}

Deno.test("programOfSocket names a real curl with its pid", opts, async () => {
  await using curl = await connectedCurl();
  assert.deepEqual(await programOfSocket(curl.inode, curl.uid), { name: "curl", pid: curl.pid });
});

Deno.test(
  "programOfSocket: time spent waiting for a busy event loop does not count against its budget",
  opts,
  async () => {
    // A socket held by no other process: the scan reads every process before it finds it in
    // this one (checked last), yielding between slices.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await listener.accept();
    const lookup = netlinkOwnerLookup();
    const owner = await lookup(server.localAddr as Deno.NetAddr, server.remoteAddr as Deno.NetAddr);
    lookup.close();
    // Every turn of the event loop, something else runs for 40 ms.
    const busy = setInterval(() => {
      const until = performance.now() + 40;
      while (performance.now() < until) { /* another connection's work */ }
    }, 0);
    try {
      assert.ok(owner?.inode);
      const processes = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).length;
      const started = performance.now();
      const found = await programOfSocket(owner.inode, owner.uid, { workMs: 100, wallMs: 60_000 });
      const took = performance.now() - started;
      assert.equal(found?.pid, Deno.pid, `not found in ${took} ms among ${processes} processes`);
    } finally {
      clearInterval(busy);
      client.close();
      server.close();
      listener.close();
    }
  },
);
