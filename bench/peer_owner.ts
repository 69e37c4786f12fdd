/**
 * The cost of the peer-owner check per new connection (src/peer/owner.ts), with more and
 * more other TCP sockets open on the machine (the /proc table grows with them; sock_diag's exact
 * lookup should not care), for each Linux method (`--linux netlink,proc`). Prints
 * wall time per check (median, p99) and the CPU time this process spent per check. Timings on a
 * busy machine are noisy: compare rows of one run.
 *
 *   deno run --allow-all bench/peer_owner.ts [--checks 500] [--sockets 0,1000,4000]
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { peerOwnerCheck } from "../src/peer/owner.ts";

const { values } = parseArgs({
  options: {
    checks: { type: "string", default: "500" },
    linux: { type: "string", default: "netlink,proc" },
    sockets: { type: "string", default: "0,1000,4000" },
  },
});
const checks = Number(values.checks);
const methods = Deno.build.os === "linux"
  ? values.linux.split(",") as ("netlink" | "proc")[]
  : [undefined];
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const held: Deno.Conn[] = [];

/** Opens one loopback connection and returns both ends. */
async function pair(): Promise<[Deno.Conn, Deno.Conn]> {
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  return [client, server];
}

console.log(`${Deno.build.os}: ${checks} checks per row`);
console.log(" method | other sockets | median µs | p99 µs | CPU µs/check | allowed");
const rows = values.sockets.split(",").map(Number).flatMap((n) =>
  methods.map((m) => [n, m] as const)
);
for (const [target, method] of rows) {
  while (held.length < target) held.push(...await pair()); // 2 sockets per pair
  const check = peerOwnerCheck({ linux: method });
  const times: number[] = [];
  let allowed = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < checks; i++) {
    const [client, server] = await pair();
    const t0 = performance.now();
    const v = await check(server.localAddr as Deno.NetAddr, server.remoteAddr as Deno.NetAddr);
    times.push((performance.now() - t0) * 1000);
    if (v.allowed) allowed++;
    client.close();
    server.close();
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]);
  // The CPU figure includes opening and closing the pair, measured alone below.
  console.log(
    `${(method ?? Deno.build.os).padStart(7)} | ${String(held.length).padStart(13)} | ${
      String(at(0.5)).padStart(9)
    } | ${String(at(0.99)).padStart(6)} | ${
      String(Math.round((cpu.user + cpu.system) / checks)).padStart(12)
    } | ${allowed}/${checks}`,
  );
}
const cpu0 = process.cpuUsage();
for (let i = 0; i < checks; i++) {
  const [client, server] = await pair();
  client.close();
  server.close();
}
const base = process.cpuUsage(cpu0);
console.log(
  `baseline: opening and closing a pair alone costs ${
    Math.round((base.user + base.system) / checks)
  } µs CPU`,
);
for (const c of held) c.close();
listener.close();
