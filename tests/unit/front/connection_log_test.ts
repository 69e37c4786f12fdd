/**
 * The connection log and the activity registry through the real listener and real loopback
 * connections: an absolute-form GET counts its request head as sent; a normal end is one DBG
 * line; a failed dial is one WRN line (no DBG twin) and one recorded failure, in SOCKS and HTTP;
 * the registry lists a connection while it is open, with the bytes that have flowed.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { ProxyListener } from "../../../src/front/listener.ts";
import { Activity } from "../../../src/front/activity.ts";
import type { AdmissionCheck, Dialer } from "../../../src/front/dialer.ts";
import { TcpUpstream } from "../../../src/route/direct.ts";
import { DialError } from "../../../src/net/upstream.ts";
import { closeQuietly, writeAll } from "../../../src/net/io.ts";
import { waitFor } from "../../helpers/wait.ts";

const enc = (s: string) => new TextEncoder().encode(s);

async function withLog(body: (lines: string[]) => Promise<void>): Promise<void> {
  const lines: string[] = [];
  await configure({
    reset: true,
    sinks: {
      mem: (r: LogRecord) =>
        lines.push(
          `${r.level} ${r.message.map((p, i) => i % 2 ? String(p) : p).join("")}`,
        ),
    },
    loggers: [
      { category: ["ktctl"], lowestLevel: "debug", sinks: ["mem"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["mem"] },
    ],
  });
  try {
    await body(lines);
  } finally {
    await reset();
  }
}

function setup(admit?: AdmissionCheck) {
  const origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("hello from the origin\n"),
  );
  const dialer: Dialer = {
    async dial(host, port) {
      if (host !== "web.demo" || port !== 80) {
        throw new DialError("no-port", `service demo/web has no port ${port}`);
      }
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: origin.addr.port });
      return { upstream: new TcpUpstream(conn, "pod demo/web-0:8080"), via: "service demo/web:80" };
    },
  };
  const activity = new Activity();
  const listener = ProxyListener.listen({ hostname: "127.0.0.1", port: 0 });
  listener.serve({
    dialer,
    activity,
    pages: { pac: () => "", about: () => "" },
    admit: admit ??
      (() => Promise.resolve({ allowed: true, detail: "", program: { name: "curl", pid: 4242 } })),
  });
  return {
    port: listener.addr.port,
    activity,
    async close() {
      await listener.close();
      await origin.shutdown();
    },
  };
}

async function exchange(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, enc(request));
    let text = "";
    const buf = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    closeQuietly(conn);
  }
}

/**
 * A CONNECT tunnel to web.demo:80 with one GET through it, open, once the registry has counted
 * bytes received on it.
 */
async function tunnelWithBytes(f: ReturnType<typeof setup>): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: f.port });
  await writeAll(conn, enc("CONNECT web.demo:80 HTTP/1.1\r\nHost: web.demo:80\r\n\r\n"));
  const buf = new Uint8Array(4096);
  await conn.read(buf);
  await writeAll(conn, enc("GET / HTTP/1.1\r\nHost: web.demo\r\n\r\n"));
  await conn.read(buf);
  await waitFor(
    () => (f.activity.snapshot().connections[0]?.receivedBytes ?? 0) > 0,
    5000,
    "bytes",
  );
  return conn;
}

Deno.test("connection log: an absolute-form GET counts its head as sent; a normal end is one DBG line", async () => {
  await withLog(async (lines) => {
    const f = setup();
    try {
      const request =
        "GET http://web.demo/ HTTP/1.1\r\nHost: web.demo\r\nConnection: close\r\n\r\n";
      assert.match(await exchange(f.port, request), /hello from the origin/);
      await waitFor(
        () => lines.some((l) => l.includes("→ GET http://web.demo/")),
        5000,
        "the line",
      );
      const line = lines.filter((l) => l.includes("web.demo"));
      assert.equal(line.length, 1, line.join("\n"));
      // The head sent on is the client's, less the hop-by-hop fields: more than 0 B in any case.
      assert.match(
        line[0],
        /^debug #1 curl \(pid 4242\) → GET http:\/\/web\.demo\/ via service demo\/web:80 \(pod demo\/web-0:8080\): [1-9]\d* B sent, [1-9]\d* B received in \d+ ms; closed$/,
      );
      assert.equal(f.activity.snapshot().total.connections, 1);
      assert.equal(f.activity.snapshot().failures.length, 0);
    } finally {
      await f.close();
    }
  });
});

Deno.test("connection log: a failed dial is one WRN line and one failure, in SOCKS and HTTP", async () => {
  await withLog(async (lines) => {
    const f = setup();
    try {
      const http = await exchange(
        f.port,
        "GET http://web.demo:81/ HTTP/1.1\r\nHost: web.demo:81\r\nConnection: close\r\n\r\n",
      );
      assert.match(http, /^HTTP\/1\.1 502 /);
      // SOCKS4a to web.demo:81: request rejected, and the reason in the log.
      const socks = await Deno.connect({ hostname: "127.0.0.1", port: f.port });
      await writeAll(socks, new Uint8Array([4, 1, 0, 81, 0, 0, 0, 1, 0, ...enc("web.demo"), 0]));
      const reply = new Uint8Array(8);
      assert.equal(await socks.read(reply), 8);
      assert.equal(reply[1], 0x5b);
      closeQuietly(socks);
      await waitFor(
        () => lines.filter((l) => l.includes("web.demo:81")).length >= 2,
        5000,
        "two lines",
      );
      const mine = lines.filter((l) => l.includes("web.demo:81"));
      assert.equal(mine.length, 2, mine.join("\n"));
      for (const l of mine) {
        assert.match(
          l,
          /^warning #\d+ curl \(pid 4242\) → web\.demo:81: service demo\/web has no port 81$/,
        );
      }
      const failures = f.activity.snapshot().failures;
      assert.deepEqual(failures.map((x) => [x.kind, x.destination, x.program?.name]), [
        ["no-port", "web.demo:81", "curl"],
        ["no-port", "web.demo:81", "curl"],
      ]);
    } finally {
      await f.close();
    }
  });
});

Deno.test("activity: a connection is listed while open, with its bytes, and leaves when closed", async () => {
  await withLog(async () => {
    const f = setup();
    try {
      const conn = await tunnelWithBytes(f);
      const c = f.activity.snapshot().connections[0];
      assert.equal(c.destination, "web.demo:80");
      assert.equal(c.via, "service demo/web:80 → pod demo/web-0:8080");
      assert.equal(c.program?.name, "curl");
      assert.ok(c.sentBytes > 0);
      closeQuietly(conn);
      await waitFor(() => f.activity.snapshot().open === 0, 5000, "the connection to leave");
    } finally {
      await f.close();
    }
  });
});

Deno.test("connection log: a connection is served while its program is still being named; its row and failure get the name when found", async () => {
  await withLog(async () => {
    let name!: (p: { name: string; pid: number } | undefined) => void;
    const naming = new Promise<{ name: string; pid: number } | undefined>((r) => name = r);
    const f = setup(() => Promise.resolve({ allowed: true, detail: "uid 1000", naming }));
    try {
      // Served in full before the lookup ends: the name is never waited for.
      const conn = await tunnelWithBytes(f);
      assert.equal(f.activity.snapshot().connections[0].program, null);
      // A failure of the same client program, also before its name is known.
      assert.match(
        await exchange(
          f.port,
          "GET http://web.demo:81/ HTTP/1.1\r\nHost: web.demo:81\r\nConnection: close\r\n\r\n",
        ),
        /^HTTP\/1\.1 50\d/,
      );
      await waitFor(() => f.activity.snapshot().failures.length === 1, 5000, "the failure");
      assert.equal(f.activity.snapshot().failures[0].program, null);
      name({ name: "psql", pid: 77 });
      await waitFor(
        () => f.activity.snapshot().connections[0]?.program?.name === "psql",
        5000,
        "the row's name",
      );
      assert.deepEqual(f.activity.snapshot().failures[0].program, { name: "psql", pid: 77 });
      closeQuietly(conn);
      await waitFor(() => f.activity.snapshot().open === 0, 5000, "the connection to leave");
    } finally {
      await f.close();
    }
  });
});
