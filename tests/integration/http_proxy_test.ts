/**
 * ktctl as an HTTP proxy, against the in-process fake API server, with real curl: every name
 * form and address in absolute form and through CONNECT, keep-alive across hosts, failures as
 * readable statuses, the PAC file, and the same port still speaking SOCKS.
 */
import assert from "node:assert/strict";
import { curl } from "../../testenv/socks_client.ts";
import { proxy, world } from "../helpers/fake_world.ts";
import { setupLogging } from "../../src/cli/logging.ts";

await setupLogging(Deno.env.get("KTCTL_TEST_DEBUG") === "1");

const opts = {};

Deno.test(
  "http proxy: curl reaches every name form, ClusterIPs and pod IPs, in each mode",
  opts,
  async () => {
    const w = await world();
    try {
      for (const method of ["http", "socks"] as const) {
        const s = await w.connect({ method });
        const http = proxy(s, "http");
        const cases: [string, RegExp][] = [
          ["http://web.demo/x", /^pod=demo\/web-\d\nGET \/x\nhost=web\.demo\n/],
          ["http://web/x", /^pod=demo\/web-\d\n/],
          ["http://web.demo.svc.cluster.local/x", /^pod=demo\/web-\d\n/],
          ["http://10.96.0.10/x", /^pod=demo\/web-\d\nGET \/x\nhost=10\.96\.0\.10\n/],
          ["http://10.244.0.12:8080/x", /^pod=demo\/web-2\n/],
          ["http://web-3.web-headless.demo.svc.cluster.local:8080/", /^pod=demo\/web-3\n/],
          ["http://10-244-0-11.demo.pod.cluster.local:8080/", /^pod=demo\/web-1\n/],
          ["http://api.other/", /^pod=other\/api-1\n/],
        ];
        for (const [url, body] of cases) {
          const direct = await curl(http, url);
          assert.equal(direct.code, 0, `${method} ${url}: ${direct.stderr}`);
          assert.match(direct.body, body, url);
          // -p: the same through a CONNECT tunnel.
          const tunnelled = await curl(http, url, ["-p"]);
          assert.equal(tunnelled.code, 0, `${method} CONNECT ${url}: ${tunnelled.stderr}`);
          assert.match(tunnelled.body, body, `CONNECT ${url}`);
        }
        await s.stop();
      }
    } finally {
      await w.close();
    }
  },
);

Deno.test(
  "http proxy: curl keeps one connection to ktctl across requests to different hosts",
  opts,
  async () => {
    const w = await world();
    try {
      const s = await w.connect({ method: "http" });
      const r = await curl(proxy(s, "http"), "http://web.demo/a", [
        "-v",
        "http://api.other/b",
        "http://web.demo/c",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.body,
        // curl takes the URL given last (the helper's) first.
        /^pod=other\/api-1\nGET \/b\n[\s\S]*pod=demo\/web-\d\nGET \/c\n[\s\S]*GET \/a\n/,
      );
      assert.equal((r.stderr.match(/Re-using existing connection/g) ?? []).length, 2, r.stderr);
    } finally {
      await w.close();
    }
  },
);

Deno.test(
  "http proxy: failures are 502/504 with the reason, for a person and for scripts",
  opts,
  async () => {
    const w = await world();
    try {
      const s = await w.connect({ method: "http" });
      const http = proxy(s, "http");
      const cases: [string, string, RegExp][] = [
        ["http://empty.demo/", "no-endpoints", /no ready endpoint/],
        ["http://nope.demo.svc.cluster.local/", "unknown-host", /nope\.demo\.svc\.cluster\.local/],
        ["http://refuser.demo/", "refused", /refused/],
        ["http://web.demo:81/", "no-port", /81/],
        // Outside the cluster and outside the loopback-only direct-dial policy: refused, never dialled.
        ["http://192.0.2.1/", "policy", /direct-dial/],
      ];
      for (const [url, kind, reason] of cases) {
        const r = await curl(http, url, ["-D", "-"]);
        assert.equal(r.code, 0, `${url}: ${r.stderr}`);
        assert.match(r.body, /^HTTP\/1\.1 502 Bad Gateway\r\n/, url);
        assert.match(r.body, new RegExp(`\r\nX-Ktctl-Error: ${kind}\r\n`), url);
        assert.match(r.body, reason, url);
        const viaConnect = await curl(http, url, ["-p"]);
        assert.notEqual(viaConnect.code, 0, `CONNECT ${url}`);
        // Through one WebSocket per connection (all this fake API server offers) a refusal is
        // known only once data flows, so CONNECT has already answered 200: the client is cut
        // off instead. Everything refused before dialling is a 502 to CONNECT too.
        if (kind !== "refused") {
          assert.match(
            viaConnect.stderr,
            /CONNECT.*502|502.*CONNECT|response 502/i,
            `CONNECT ${url}`,
          );
        }
      }
    } finally {
      await w.close();
    }
  },
);

Deno.test(
  "http proxy: the PAC file lists the cluster's namespaces and ranges, in every mode",
  opts,
  async () => {
    const w = await world();
    try {
      for (const [method, directive] of [["http", "PROXY"], ["socks5", "SOCKS5"]] as const) {
        const s = await w.connect({ method });
        const port = s.server.addr.port;
        const r = await curl("", `http://127.0.0.1:${port}/proxy.pac`, [
          "--noproxy",
          "*",
          "-D",
          "-",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.body, /\r\nContent-Type: application\/x-ns-proxy-autoconfig\r\n/);
        assert.match(r.body, /var NAMESPACES = \{"demo":true,"other":true\};/);
        assert.match(r.body, new RegExp(`var KTCTL = "${directive} 127\\.0\\.0\\.1:${port}[;"]`));
        assert.match(
          r.body,
          /var RANGES = \[\[183762944,16\],\[174063616,16\]\];|var RANGES = \[\[174063616,16\],\[183762944,16\]\];/,
        );
        // The about page, for a person who opened ktctl's address in a browser.
        const about = await curl("", `http://127.0.0.1:${port}/`, ["--noproxy", "*"]);
        assert.match(about.body, /<h1>ktctl /);
        assert.match(about.body, new RegExp(`http_proxy=http://127\\.0\\.0\\.1:${port}`));
        await s.stop();
      }
    } finally {
      await w.close();
    }
  },
);
