/**
 * src/peer/owner*.ts: the socket-table decoders byte by byte, and the Linux check against
 * real sockets of this user and (when run as root) of the user nobody.
 */
import assert from "node:assert/strict";
import {
  decodeProcAddress,
  findClientRow,
  lookupClientUid,
  parseProcTcpLine,
} from "../../../src/peer/owner_linux.ts";
import {
  AF_INET,
  AF_INET6,
  findClientPid,
  parseTcpTable,
  sidToString,
} from "../../../src/peer/owner_windows.ts";
import {
  lsofClientOwner,
  lsofName,
  ownerFromLsof,
  uidFromLsof,
} from "../../../src/peer/owner_macos.ts";
import { peerOwnerCheck, uidCheck } from "../../../src/peer/owner.ts";
import { diagRequest, parseDiagReply } from "../../../src/peer/owner_netlink.ts";
import { Limiter, LimiterFull } from "../../../src/peer/limiter.ts";

const HEADER =
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

Deno.test("peer_owner: /proc addresses decode on little- and big-endian machines", () => {
  assert.equal(decodeProcAddress("0100007F", true), "127.0.0.1");
  assert.equal(decodeProcAddress("7F000001", false), "127.0.0.1");
  assert.equal(decodeProcAddress("00000000000000000000000001000000", true), "::1");
  assert.equal(decodeProcAddress("00000000000000000000000000000001", false), "::1");
  // An IPv4-mapped address (a dual-stack socket) compares as plain IPv4.
  assert.equal(decodeProcAddress("0000000000000000FFFF00000100007F", true), "127.0.0.1");
  assert.equal(decodeProcAddress("B80D0120000000000000000001000000", true), "2001:db8::1");
  for (const bad of ["", "0100007", "0100007G", "0".repeat(16)]) {
    assert.equal(decodeProcAddress(bad, true), undefined, bad);
  }
});

Deno.test("peer_owner: /proc/net/tcp lines parse; the header and junk do not", () => {
  const line =
    "   3: 0100007F:D9A2 0100007F:0438 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 30 10 -1";
  assert.deepEqual(parseProcTcpLine(line, true), {
    localIp: "127.0.0.1",
    localPort: 0xd9a2,
    remoteIp: "127.0.0.1",
    remotePort: 1080,
    state: 1,
    uid: 1000,
    inode: 4242,
  });
  assert.equal(parseProcTcpLine(HEADER, true), undefined);
  assert.equal(parseProcTcpLine("", true), undefined);
  assert.equal(parseProcTcpLine("   3: 0100007F 0100007F:0438 01 a b c x 1 2", true), undefined);
  assert.equal(parseProcTcpLine(line.replace(" 1000 ", " -1 "), true), undefined);
});

Deno.test("peer_owner: the client's row is the mirror of ktctl's, never ktctl's own", () => {
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const ip = (s: string) => le ? s : s.match(/../g)!.reverse().join("");
  const row = (n: number, l: string, r: string, st: string, uid: number) =>
    `   ${n}: ${ip("0100007F")}:${l} ${
      ip("0100007F")
    }:${r} ${st} 00000000:00000000 00:00000000 00000000 ${uid} 0 ${100 + n} 1`;
  const table = [
    HEADER,
    row(0, "0438", "0000", "0A", 0), // ktctl's listener
    row(1, "0438", "D9A2", "01", 0), // ktctl's accepted socket: ours, but not the client
    row(2, "D9A2", "0438", "06", 0), // an earlier connection on the same port, in TIME_WAIT
    row(3, "D9A2", "0438", "01", 65534), // the client
  ];
  const local = { ip: "127.0.0.1", port: 1080 };
  const remote = { ip: "127.0.0.1", port: 0xd9a2 };
  assert.equal(findClientRow(table, local, remote)?.uid, 65534);
  assert.equal(findClientRow(table.slice(0, 4), local, remote), undefined);
});

Deno.test("peer_owner: the sock_diag request names the client's socket exactly", () => {
  const client = { ip: "127.0.0.1", port: 0xd9a2 };
  const ktctl = { ip: "127.0.0.1", port: 1080 };
  const b = diagRequest(2, client, ktctl, 7);
  assert.deepEqual([...b.subarray(0, 16)], [72, 0, 0, 0, 20, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
  // family, IPPROTO_TCP, no extensions, pad, every state
  assert.deepEqual([...b.subarray(16, 24)], [2, 6, 0, 0, 255, 255, 255, 255]);
  // sport, dport (big-endian), src and dst padded to 16 bytes, any interface, no cookie
  assert.deepEqual([...b.subarray(24, 28)], [0xd9, 0xa2, 0x04, 0x38]);
  assert.deepEqual([...b.subarray(28, 44)], [127, 0, 0, 1, ...Array(12).fill(0)]);
  assert.deepEqual([...b.subarray(44, 60)], [127, 0, 0, 1, ...Array(12).fill(0)]);
  assert.deepEqual([...b.subarray(60, 72)], [0, 0, 0, 0, ...Array(8).fill(255)]);
  // The same connection from a dual-stack client socket: IPv4-mapped addresses.
  const six = diagRequest(10, client, ktctl, 8);
  assert.equal(six[16], 10);
  assert.deepEqual([...six.subarray(28, 44)], [...Array(10).fill(0), 255, 255, 127, 0, 0, 1]);
});

Deno.test("peer_owner: sock_diag replies give the uid, ENOENT, or an error", () => {
  const reply = new Uint8Array(16 + 72);
  const v = new DataView(reply.buffer);
  v.setUint32(0, reply.length, true);
  v.setUint16(4, 20, true);
  v.setUint32(16 + 64, 65534, true);
  v.setUint32(16 + 68, 4242, true);
  assert.deepEqual(parseDiagReply(reply), { uid: 65534, inode: 4242 });
  assert.throws(() => parseDiagReply(reply.subarray(0, 40)), /unexpected netlink reply/);
  const error = new Uint8Array(36);
  const e = new DataView(error.buffer);
  e.setUint16(4, 2, true); // NLMSG_ERROR
  e.setInt32(16, -2, true);
  assert.equal(parseDiagReply(error), "absent");
  e.setInt32(16, -1, true);
  assert.throws(() => parseDiagReply(error), /errno 1/);
  assert.throws(() => parseDiagReply(new Uint8Array(4)), /short/);
});

/** A MIB_TCPTABLE_OWNER_PID / MIB_TCP6TABLE_OWNER_PID built byte by byte. */
function table(family: number, rows: number[][]): Uint8Array {
  const size = family === AF_INET ? 24 : 56;
  const bytes = new Uint8Array(4 + size * rows.length + 3); // trailing slack is ignored
  const view = new DataView(bytes.buffer);
  view.setUint32(0, rows.length, true);
  rows.forEach((r, i) => bytes.set(r, 4 + i * size));
  return bytes;
}
const u32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];
const port = (n: number) => [n >> 8, n & 0xff, 0xcc, 0xcc]; // the upper half is garbage
const v6 = (last: number) => [...Array(15).fill(0), last];

Deno.test("peer_owner: GetExtendedTcpTable rows decode (IPv4 and IPv6)", () => {
  const v4 = table(AF_INET, [
    [...u32(2), 127, 0, 0, 1, ...port(1080), 0, 0, 0, 0, ...port(0), ...u32(4)],
    [...u32(5), 127, 0, 0, 1, ...port(55000), 127, 0, 0, 1, ...port(1080), ...u32(7788)],
  ]);
  const rows = parseTcpTable(v4, AF_INET);
  assert.deepEqual(rows[1], {
    state: 5,
    localIp: "127.0.0.1",
    localPort: 55000,
    remoteIp: "127.0.0.1",
    remotePort: 1080,
    pid: 7788,
  });
  const local = { ip: "127.0.0.1", port: 1080 };
  assert.equal(findClientPid(rows, local, { ip: "127.0.0.1", port: 55000 }), 7788);
  assert.equal(findClientPid(rows, local, { ip: "127.0.0.1", port: 55001 }), undefined);

  const six = table(AF_INET6, [
    [
      ...v6(1),
      ...u32(0),
      ...port(55000),
      ...v6(1),
      ...u32(0),
      ...port(1080),
      ...u32(11),
      ...u32(0),
    ],
    [...v6(1), ...u32(0), ...port(55000), ...v6(1), ...u32(0), ...port(1080), ...u32(5), ...u32(9)],
  ]);
  const rows6 = parseTcpTable(six, AF_INET6);
  assert.equal(rows6.length, 2);
  assert.equal(rows6[0].localIp, "::1");
  // The TIME_WAIT row (state 11, pid 0) is skipped.
  assert.equal(findClientPid(rows6, { ip: "::1", port: 1080 }, { ip: "::1", port: 55000 }), 9);
  // A count larger than the buffer holds stops at the buffer's end.
  new DataView(six.buffer).setUint32(0, 1000, true);
  assert.equal(parseTcpTable(six, AF_INET6).length, 2);
  assert.deepEqual(parseTcpTable(new Uint8Array(2), AF_INET), []);
});

Deno.test("peer_owner: SIDs print as S-R-A-sub-...", () => {
  const sid = new Uint8Array([
    1,
    5,
    0,
    0,
    0,
    0,
    0,
    5,
    ...u32(21),
    ...u32(1),
    ...u32(2),
    ...u32(3),
    ...u32(1000),
  ]);
  assert.equal(sidToString(sid), "S-1-5-21-1-2-3-1000");
  assert.equal(sidToString(sid.subarray(0, 12)), "S-?"); // says 5 sub-authorities, holds 1
});

Deno.test("peer_owner: lsof's -F pcun output names the client's owner and program", () => {
  const out = "p100\ncktctl\nu0\nf5\nn127.0.0.1:1080->127.0.0.1:55000\np200\ncGoogle Chrome\n" +
    "u501\nf7\nn127.0.0.1:55000->127.0.0.1:1080\n";
  const client = lsofName({ ip: "127.0.0.1", port: 55000 }, { ip: "127.0.0.1", port: 1080 });
  assert.equal(uidFromLsof(out, client), 501);
  assert.deepEqual(ownerFromLsof(out, client), {
    uid: 501,
    program: { name: "Google Chrome", pid: 200 },
  });
  // A malformed pid names no program; the owner still counts.
  assert.deepEqual(ownerFromLsof(out.replace("p200", "p2x0"), client), { uid: 501 });
  assert.equal(uidFromLsof(out, "127.0.0.1:1->127.0.0.1:2"), undefined);
  assert.equal(lsofName({ ip: "::1", port: 1 }, { ip: "::1", port: 2 }), "[::1]:1->[::1]:2");
});

Deno.test("peer_owner: a check that cannot decide refuses", async () => {
  const addr = { transport: "tcp", hostname: "127.0.0.1", port: 1 } as const;
  assert.deepEqual(await uidCheck(() => Promise.resolve(undefined), 0)(addr, addr), {
    allowed: false,
    detail: "the client's socket is not listed",
  });
  assert.deepEqual(await uidCheck(() => Promise.resolve({ uid: 7 }), 7)(addr, addr), {
    allowed: true,
    detail: "uid 7",
  });
});

/** Accepts one connection from `connect` and returns what the check says about it. */
async function verdictFor(
  hostname: string,
  connect: (port: number) => Promise<{ done: () => Promise<void> }>,
  check = peerOwnerCheck(),
) {
  using listener = Deno.listen({ hostname, port: 0 });
  const client = await connect(listener.addr.port);
  using conn = await listener.accept();
  try {
    const verdict = await check(conn.localAddr as Deno.NetAddr, conn.remoteAddr as Deno.NetAddr);
    const uid = await lookupClientUid(
      conn.localAddr as Deno.NetAddr,
      conn.remoteAddr as Deno.NetAddr,
    );
    // The program as the verdict gives it, or as its lookup (still running) finds it: while the
    // client still holds its socket.
    const program = verdict.program ?? await verdict.naming;
    return { verdict, uid, program };
  } finally {
    await client.done();
  }
}

const ownClient = (hostname: string) => async (port: number) => {
  const c = await Deno.connect({ hostname, port });
  return { done: () => Promise.resolve(c.close()) };
};

Deno.test({
  name: "peer_owner: Linux, this user's own connection is allowed (IPv4 and IPv6)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    for (const host of ["127.0.0.1", "::1"]) {
      const { verdict, uid, program } = await verdictFor(host, ownClient(host));
      assert.equal(uid, Deno.uid(), host);
      assert.equal(verdict.allowed, true, host);
      assert.equal(verdict.detail, `uid ${Deno.uid()}`, host);
      // The client is this test process: its program is found by its socket's inode, beside the
      // admission (which does not wait for it).
      assert.equal(verdict.program, undefined, host);
      assert.equal(program?.pid, Deno.pid, host);
    }
  },
});

Deno.test({
  name:
    "peer_owner: Linux, the program is named only while names are wanted; admission is the same",
  ignore: Deno.build.os !== "linux",
  async fn() {
    let wanted = false;
    let asked = 0;
    const check = peerOwnerCheck({ nameProgram: () => (asked++, wanted) });
    try {
      const off = await verdictFor("127.0.0.1", ownClient("127.0.0.1"), check);
      assert.deepEqual(off.verdict, { allowed: true, detail: `uid ${Deno.uid()}` });
      wanted = true;
      const on = await verdictFor("127.0.0.1", ownClient("127.0.0.1"), check);
      assert.equal(on.verdict.allowed, true);
      assert.equal(on.program?.pid, Deno.pid);
      assert.equal(asked, 2, "asked once per admitted connection");
    } finally {
      check.close?.();
    }
  },
});

/** A client run as the user nobody through runuser, holding its connection until killed. */
const nobodyClient = (hostname: string) => (port: number) => {
  const child = new Deno.Command("runuser", {
    args: [
      "-u",
      "nobody",
      "--",
      "bash",
      "-c",
      `exec 3<>/dev/tcp/${hostname}/${port}; read -t 30 <&3`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return Promise.resolve({
    done: async () => {
      child.kill("SIGKILL");
      await child.status;
    },
  });
};

const asRoot = Deno.build.os === "linux" && Deno.uid() === 0;

Deno.test({
  name: "peer_owner: Linux, another user's connection is refused (needs root for runuser)",
  ignore: !asRoot,
  async fn() {
    const nobody = Number(new TextDecoder().decode(
      (await new Deno.Command("id", { args: ["-u", "nobody"] }).output()).stdout,
    ));
    for (const host of ["127.0.0.1", "::1"]) {
      for (const linux of ["netlink", "proc"] as const) {
        const { verdict, uid } = await verdictFor(
          host,
          nobodyClient(host),
          peerOwnerCheck({ linux }),
        );
        assert.equal(uid, nobody, host);
        assert.deepEqual(
          verdict,
          { allowed: false, detail: `its program runs as uid ${nobody}, not as this user` },
          `${host} ${linux}`,
        );
      }
    }
  },
});

const hasLsof = Deno.build.os !== "windows" &&
  (await new Deno.Command("sh", { args: ["-c", "command -v lsof"], stdout: "null" }).output())
    .success;

Deno.test({
  name: "peer_owner: the lsof lookup (macOS's) finds the same owners on Linux",
  ignore: !asRoot || !hasLsof,
  async fn() {
    const check = uidCheck(lsofClientOwner);
    const own = await verdictFor("127.0.0.1", ownClient("127.0.0.1"), check);
    assert.equal(own.verdict.allowed, true);
    assert.equal(own.verdict.program?.pid, Deno.pid);
    const other = await verdictFor("127.0.0.1", nobodyClient("127.0.0.1"), check);
    assert.equal(other.verdict.allowed, false);
    assert.equal(other.verdict.detail, `its program runs as uid ${other.uid}, not as this user`);
  },
});

Deno.test({
  name: "peer_owner: Linux, another process of this user is named by its program and pid",
  ignore: Deno.build.os !== "linux",
  async fn() {
    for (const linux of ["netlink", "proc"] as const) {
      let pid = 0;
      const { verdict, program } = await verdictFor("127.0.0.1", (port) => {
        const child = new Deno.Command("bash", {
          args: ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port}; read -t 30 <&3`],
          stdin: "null",
          stdout: "null",
        }).spawn();
        pid = child.pid;
        return Promise.resolve({
          done: async () => {
            child.kill("SIGKILL");
            await child.status;
          },
        });
      }, peerOwnerCheck({ linux }));
      assert.equal(verdict.allowed, true, linux);
      assert.deepEqual(program, { name: "bash", pid }, linux);
    }
  },
});

Deno.test({
  name: "peer_owner: lsof lookups are bounded: past the running and waiting slots, refused at once",
  ignore: !hasLsof,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const clients = await Promise.all(
      [0, 1, 2].map(() => Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port })),
    );
    const conns = [await listener.accept(), await listener.accept(), await listener.accept()];
    try {
      const slots = new Limiter(1, 1);
      const lookups = conns.map((c) =>
        lsofClientOwner(c.localAddr as Deno.NetAddr, c.remoteAddr as Deno.NetAddr, 10_000, slots)
      );
      // One runs, one waits, the third never starts an lsof.
      await assert.rejects(lookups[2], LimiterFull);
      const [first, second] = await Promise.all(lookups.slice(0, 2));
      assert.equal(first?.uid, Deno.uid());
      assert.equal(second?.uid, Deno.uid());
      assert.equal(first?.program?.pid, Deno.pid);
      assert.equal(slots.running, 0);
    } finally {
      for (const c of [...clients, ...conns]) c.close();
    }
  },
});

Deno.test("peer_owner: the admission does not wait for the program's name, which follows in `naming`", async () => {
  let name!: (p: { name: string; pid: number } | undefined) => void;
  const check = uidCheck(
    () => Promise.resolve({ uid: 1000, inode: 4242 }),
    1000,
    () => new Promise((resolve) => name = resolve),
  );
  const local = { transport: "tcp", hostname: "127.0.0.1", port: 2223 } as const;
  const remote = { transport: "tcp", hostname: "127.0.0.1", port: 40000 } as const;
  const verdict = await check(local, remote);
  assert.equal(verdict.allowed, true);
  assert.equal(verdict.program, undefined);
  assert.ok(verdict.naming, "the name is still being looked up");
  name({ name: "psql", pid: 77 });
  assert.deepEqual(await verdict.naming, { name: "psql", pid: 77 });
  // No name wanted now: no lookup at all.
  const quiet = await uidCheck(
    () => Promise.resolve({ uid: 1000, inode: 4242 }),
    1000,
    () => undefined,
  )(local, remote);
  assert.deepEqual(quiet, { allowed: true, detail: "uid 1000" });
});
