/**
 * Bulk transfers through ktctl to the real control plane's bulk pods, byte for byte: every path
 * a program's bytes take (a SOCKS5 connection, an HTTP CONNECT tunnel, absolute-form HTTP
 * requests) in both directions, over both port-forward transports (multiplexed SPDY and one
 * WebSocket per connection). The payloads are pseudo-random streams named by each request
 * (testenv/bulk_stream.ts), so reordered, repeated or dropped blocks fail where a count of
 * bytes would pass. Run with the cluster up: `deno task cluster up && deno task e2e`.
 */
import assert from "node:assert/strict";
import { BULK, BULK_HTTP, clusterInfo, ensureCluster } from "../../testenv/cluster/mod.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";
import { socks5Connect } from "../../testenv/socks_client.ts";
import {
  absoluteDownload,
  absoluteUpload,
  type BulkResult,
  httpConnect,
  rawDownload,
  rawUpload,
} from "../helpers/bulk.ts";

const opts = {};
await ensureCluster();
const info = await clusterInfo();
const home = await Deno.makeTempDir({ prefix: "ktctl-e2e-bulk-" });

/** Not a multiple of any block or frame size: the last piece is a short one. */
const SIZE = 3 * 1024 * 1024 + 4321;

function assertWhole(r: BulkResult, what: string): void {
  assert.equal(r.bytes, SIZE, `${what}: ${r.bytes} of ${SIZE} bytes`);
  assert.equal(r.firstDifference, undefined, `${what}: differs from byte ${r.firstDifference}`);
  assert.equal(r.sha256, r.want, `${what}: sha-256`);
}

for (const transport of ["multiplexed", "websocket"] as const) {
  Deno.test(
    `bulk (${transport}): SOCKS5, CONNECT and absolute-form, both ways, byte for byte`,
    opts,
    async (t) => {
      const ktctl = await startKtctl([
        "-c",
        info.kubeconfigs.admin,
        "--method",
        "socks5",
        "--dialDirect",
        "127.0.0.0/8,::1/128",
        ...(transport === "websocket" ? ["--portForward", "websocket"] : []),
      ], { env: { HOME: home, USERPROFILE: home } });
      const bulk = `${BULK.service}.${BULK.namespace}`;
      const bulkHttp = `${BULK_HTTP.service}.${BULK_HTTP.namespace}:${BULK_HTTP.servicePort}`;
      try {
        await t.step("SOCKS5 download", async () => {
          const { conn, reply } = await socks5Connect(ktctl.port, bulk, BULK.port);
          assert.equal(reply, 0);
          try {
            assertWhole(await rawDownload(conn, SIZE), "SOCKS5 GET");
          } finally {
            conn.close();
          }
        });
        await t.step("SOCKS5 upload", async () => {
          const { conn, reply } = await socks5Connect(ktctl.port, bulk, BULK.port);
          assert.equal(reply, 0);
          try {
            const { answer, want } = await rawUpload(conn, SIZE);
            assert.equal(answer, want);
          } finally {
            conn.close();
          }
        });
        await t.step("CONNECT download", async () => {
          const conn = await httpConnect(ktctl.port, `${bulk}:${BULK.port}`);
          try {
            assertWhole(await rawDownload(conn, SIZE), "CONNECT GET");
          } finally {
            conn.close();
          }
        });
        await t.step("CONNECT upload", async () => {
          const conn = await httpConnect(ktctl.port, `${bulk}:${BULK.port}`);
          try {
            const { answer, want } = await rawUpload(conn, SIZE);
            assert.equal(answer, want);
          } finally {
            conn.close();
          }
        });
        await t.step("absolute-form GET", async () => {
          const r = await absoluteDownload(ktctl.port, bulkHttp, SIZE);
          assert.match(r.status, /^HTTP\/1\.1 200 /);
          assertWhole(r, "absolute-form GET");
        });
        await t.step("absolute-form PUT", async () => {
          const r = await absoluteUpload(ktctl.port, bulkHttp, SIZE);
          assert.match(r.status, /^HTTP\/1\.1 200 /);
          assert.equal(r.answer, r.want);
        });
      } finally {
        assert.equal(await ktctl.stop(), 0, ktctl.output());
      }
    },
  );
}
