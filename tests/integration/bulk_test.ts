/**
 * Bulk transfers through the real `ktctl connect` to loopback "pods" running the fixture's own
 * bulk servers (testenv/cluster/backends.ts), byte for byte: a SOCKS5 connection, an HTTP
 * CONNECT tunnel and absolute-form requests, both ways. The fake API server forwards ports over
 * WebSocket only (v4.channel.k8s.io), so this is the per-connection transport on every run; the
 * multiplexed one is checked the same way against the real control plane (tests/e2e/bulk_e2e_test.ts).
 */
import assert from "node:assert/strict";
import { build, FakeApiServer } from "../../testenv/fake_apiserver.ts";
import { type KtctlProcess, startKtctl } from "../../testenv/ktctl_process.ts";
import { serveBulk, serveBulkHttp } from "../../testenv/cluster/backends.ts";
import type { Backend } from "../../testenv/cluster/fixture.ts";
import { socks5Connect } from "../../testenv/socks_client.ts";
import { closeQuietly } from "../../src/net/io.ts";
import {
  absoluteDownload,
  absoluteUpload,
  type BulkResult,
  httpConnect,
  rawDownload,
  rawUpload,
} from "../helpers/bulk.ts";

/** Not a multiple of any block or frame size: the last piece is a short one. */
const SIZE = 2 * 1024 * 1024 + 4321;

/** A loopback server running one of the fixture's handlers. */
function serving(handler: (b: Backend, conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Promise<void>>();
  const conns = new Set<Deno.Conn>();
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const done = handler({} as Backend, conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        closeQuietly(conn);
        open.delete(done);
      });
      open.add(done);
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async close() {
      closeQuietly(listener);
      for (const c of conns) closeQuietly(c);
      await Promise.all(open);
      await loop;
    },
  };
}

function assertWhole(r: BulkResult, what: string): void {
  assert.equal(r.bytes, SIZE, `${what}: ${r.bytes} of ${SIZE} bytes`);
  assert.equal(r.firstDifference, undefined, `${what}: differs from byte ${r.firstDifference}`);
  assert.equal(r.sha256, r.want, `${what}: sha-256`);
}

Deno.test("bulk (websocket): SOCKS5, CONNECT and absolute-form, both ways, byte for byte", async (t) => {
  const bulk = serving(serveBulk);
  const bulkHttp = serving(serveBulkHttp);
  const api = new FakeApiServer();
  const dir = await Deno.makeTempDir({ prefix: "ktctl-bulk-" });
  let ktctl: KtctlProcess | undefined;
  try {
    api.apply("pods", build.pod("demo", "bulk", "10.244.0.21", { labels: { app: "bulk" } }));
    api.apply("pods", build.pod("demo", "bulk-http", "10.244.0.22", { labels: { app: "bh" } }));
    api.ports.set("demo/bulk:9100", { target: bulk.port });
    api.ports.set("demo/bulk-http:9180", { target: bulkHttp.port });
    api.apply(
      "services",
      build.service("demo", "bulk", "10.96.0.21", [{ port: 9100 }], { app: "bulk" }),
    );
    api.apply(
      "services",
      build.service("demo", "bulk-http", "10.96.0.22", [{ port: 80, targetPort: 9180 }], {
        app: "bh",
      }),
    );
    api.apply(
      "endpointslices",
      build.slice("demo", "bulk", [{ port: 9100 }], [{ pod: "bulk", ip: "10.244.0.21" }]),
    );
    api.apply(
      "endpointslices",
      build.slice("demo", "bulk-http", [{ port: 9180 }], [{ pod: "bulk-http", ip: "10.244.0.22" }]),
    );
    await Deno.writeTextFile(`${dir}/kubeconfig`, api.kubeconfig("admin-token", "demo"));
    ktctl = await startKtctl(
      ["-c", `${dir}/kubeconfig`, "--method", "socks5", "--dialDirect", "127.0.0.0/8"],
      { env: { HOME: dir, USERPROFILE: dir, NO_COLOR: "1" } },
    );
    const port = ktctl.port;
    await t.step("SOCKS5 download", async () => {
      const { conn, reply } = await socks5Connect(port, "bulk.demo", 9100);
      assert.equal(reply, 0);
      try {
        assertWhole(await rawDownload(conn, SIZE), "SOCKS5 GET");
      } finally {
        closeQuietly(conn);
      }
    });
    await t.step("SOCKS5 upload", async () => {
      const { conn, reply } = await socks5Connect(port, "bulk.demo", 9100);
      assert.equal(reply, 0);
      try {
        const { answer, want } = await rawUpload(conn, SIZE);
        assert.equal(answer, want);
      } finally {
        closeQuietly(conn);
      }
    });
    await t.step("CONNECT download and upload", async () => {
      for (const direction of ["down", "up"]) {
        const conn = await httpConnect(port, "bulk.demo:9100");
        try {
          if (direction === "down") assertWhole(await rawDownload(conn, SIZE), "CONNECT GET");
          else {
            const { answer, want } = await rawUpload(conn, SIZE);
            assert.equal(answer, want);
          }
        } finally {
          closeQuietly(conn);
        }
      }
    });
    await t.step("absolute-form GET and PUT", async () => {
      const got = await absoluteDownload(port, "bulk-http.demo", SIZE);
      assert.match(got.status, /^HTTP\/1\.1 200 /);
      assertWhole(got, "absolute-form GET");
      const put = await absoluteUpload(port, "bulk-http.demo", SIZE);
      assert.match(put.status, /^HTTP\/1\.1 200 /);
      assert.equal(put.answer, put.want);
    });
    assert.match(ktctl.output(), /websocket|WebSocket/i, "the per-connection transport was used");
  } finally {
    if (ktctl) assert.equal(await ktctl.stop(), 0, ktctl.output());
    await api.close();
    await bulk.close();
    await bulkHttp.close();
    await Deno.remove(dir, { recursive: true });
  }
});
