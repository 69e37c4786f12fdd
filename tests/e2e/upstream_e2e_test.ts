/**
 * The company proxy keeps working while ktctl is connected: a real squid (Debian package, its
 * own instance on a free loopback port) stands in for it, found in ktctl's environment
 * (`http_proxy`/`https_proxy`/`no_proxy`) and given as `--upstreamProxy` (plain, with Basic
 * credentials, NTLM-only, and a PAC file served by the test). Requests from real curl to
 * loopback sites outside the cluster must appear in squid's access log; `no_proxy` destinations
 * and cluster names must not. Also: ktctl's own API traffic with a dead `https_proxy` (kubectl
 * never proxies loopback), and ExternalName services pointing at this machine, refused.
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, kubectl, WEB } from "../../testenv/cluster/mod.ts";
import { freePort, type KtctlProcess, startKtctl } from "../../testenv/ktctl_process.ts";
import { curl, socks5Connect } from "../../testenv/socks_client.ts";
import { hasSquid, type Squid, startSquid } from "../../testenv/squid.ts";
import { waitFor } from "../helpers/wait.ts";
import { deriveKubeconfig } from "../helpers/e2e_kubeconfig.ts";

const opts = { sanitizeOps: false, sanitizeResources: false, ignore: !hasSquid() };
await ensureCluster();
const info = await clusterInfo();
const home = await Deno.makeTempDir({ prefix: "ktctl-upstream-e2e-" });
const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128"];
const apiPort = new URL(info.server).port;

/** Two loopback sites outside the cluster: one for the proxy, one on no_proxy's list. */
function site(hostname: string, body: string) {
  return Deno.serve(
    { hostname, port: 0, onListen() {} },
    (req) => new Response(`${body} ${new URL(req.url).pathname}`),
  );
}
const outside = site("127.0.0.1", "outside-site");
const bypassed = site("127.0.0.2", "bypassed-site");
const OUT = `http://127.0.0.1:${outside.addr.port}`;
const BYPASSED = `http://127.0.0.2:${bypassed.addr.port}`;

function connect(extra: string[], env: Record<string, string> = {}): Promise<KtctlProcess> {
  return startKtctl(
    [
      "-c",
      info.kubeconfigs.admin,
      "-n",
      WEB.namespace,
      "--method",
      "http",
      "-d",
      ...SAFE,
      ...extra,
    ],
    { env: { HOME: home, USERPROFILE: home, ...env } },
  );
}

const viaKtctl = (kt: KtctlProcess, url: string, extra: string[] = []) =>
  curl(`http://127.0.0.1:${kt.port}`, url, ["-i", ...extra]);

/** Absolute-form, CONNECT and SOCKS5 to the outside site; each must come back from it. */
async function threeWays(kt: KtctlProcess, tag: string): Promise<void> {
  const abs = await viaKtctl(kt, `${OUT}/${tag}-absolute`);
  assert.match(abs.body, new RegExp(`outside-site /${tag}-absolute`), abs.stderr + abs.body);
  const tunnel = await viaKtctl(kt, `${OUT}/${tag}-connect`, ["-p"]);
  assert.match(tunnel.body, new RegExp(`outside-site /${tag}-connect`), tunnel.stderr);
  const socks = await curl(`socks5h://127.0.0.1:${kt.port}`, `${OUT}/${tag}-socks`);
  assert.match(socks.body, new RegExp(`outside-site /${tag}-socks`), socks.stderr);
}

/** squid's log lines for the outside site (ktctl tunnels with CONNECT host:port). */
async function squidSaw(squid: Squid, what: string): Promise<number> {
  return (await squid.accessLog()).split("\n").filter((l) => l.includes(what)).length;
}

Deno.test(
  "upstream from the environment: outside sites through squid, no_proxy and cluster names not",
  opts,
  async () => {
    const squid = await startSquid();
    const kt = await connect([], {
      http_proxy: squid.url,
      https_proxy: squid.url,
      no_proxy: "127.0.0.2",
    });
    try {
      assert.match(
        kt.output(),
        new RegExp(
          `Outside the cluster: through the upstream proxy http://127\\.0\\.0\\.1:${squid.port} \\(1 bypass entry\\), from environment \\(http_proxy, https_proxy, no_proxy\\)`,
        ),
      );
      await threeWays(kt, "env");
      await waitFor(
        async () => (await squidSaw(squid, `127.0.0.1:${outside.addr.port}`)) >= 3,
        5_000,
        "three requests in squid's log",
      );
      // Plain HTTP went to squid in absolute form (so a proxy that refuses CONNECT to port 80
      // still serves it); the CONNECT and SOCKS5 clients' tunnels as CONNECT.
      const seen = await squid.accessLog();
      assert.match(seen, new RegExp(`GET ${OUT}/env-absolute `));
      assert.equal(
        seen.split("\n").filter((l) => l.includes(`CONNECT 127.0.0.1:${outside.addr.port}`)).length,
        2,
        seen,
      );
      // -d names the upstream per connection.
      await waitFor(
        () => kt.output().includes(`via upstream 127.0.0.1:${squid.port}`),
        5_000,
        "the via upstream log line",
      );
      const direct = await viaKtctl(kt, `${BYPASSED}/nope`);
      assert.match(direct.body, /bypassed-site \/nope/);
      const web = await viaKtctl(kt, `http://${WEB.service}.${WEB.namespace}/`);
      assert.match(web.body, /^HTTP\/1\.1 200/);
      const log = await squid.accessLog();
      assert.ok(!log.includes("127.0.0.2"), `a no_proxy destination reached squid:\n${log}`);
      assert.ok(!log.includes(`${WEB.service}.${WEB.namespace}`), `a cluster name reached squid`);
      // ktctl's own API traffic (API server on loopback) never went through https_proxy.
      assert.ok(!log.includes(`:${apiPort} `), `API traffic went through squid:\n${log}`);

      // Squid down: a 502 that names the upstream; SOCKS gets a failure reply.
      await squid.stop();
      const down = await viaKtctl(kt, `${OUT}/down`);
      assert.match(down.body, /^HTTP\/1\.1 502/);
      assert.match(
        down.body,
        new RegExp(`the upstream proxy http://127\\.0\\.0\\.1:${squid.port}`),
      );
      const socks = await socks5Connect(kt.port, "127.0.0.1", outside.addr.port);
      socks.conn.close();
      assert.notEqual(socks.reply, 0, "SOCKS5 succeeded with the upstream down");
    } finally {
      await kt.stop();
      await squid.stop();
    }
  },
);

Deno.test(
  "--upstreamProxy: squid with Basic credentials; without them a 407 that says so",
  opts,
  async () => {
    const squid = await startSquid({ basic: { user: "bob", password: "s3cr:et" } });
    const withCreds = await connect([
      "--upstreamProxy",
      `http://bob:${encodeURIComponent("s3cr:et")}@127.0.0.1:${squid.port}`,
    ]);
    const without = await connect(["--upstreamProxy", squid.url]);
    try {
      assert.match(withCreds.output(), /from --upstreamProxy/);
      assert.ok(!withCreds.output().includes("s3cr"), "the password was printed");
      await threeWays(withCreds, "basic");
      await waitFor(
        async () =>
          (await squid.accessLog()).split("\n").filter((l) =>
            l.includes(`127.0.0.1:${outside.addr.port}`) && l.includes(" bob ")
          ).length >= 3,
        5_000,
        "bob's three requests in squid's log",
      );
      assert.match(await squid.accessLog(), new RegExp(`GET ${OUT}/basic-absolute bob `));
      const refused = await viaKtctl(without, `${OUT}/no-creds`);
      assert.match(refused.body, /^HTTP\/1\.1 502/);
      assert.match(
        refused.body,
        /asks for credentials \(407, basic\): give them as --upstreamProxy/,
      );
    } finally {
      await withCreds.stop();
      await without.stop();
      await squid.stop();
    }
  },
);

Deno.test(
  "a squid that allows CONNECT only to 443 (its default) still serves plain HTTP",
  opts,
  async () => {
    const squid = await startSquid({ connectOnly443: true });
    const kt = await connect(["--upstreamProxy", squid.url]);
    try {
      const abs = await viaKtctl(kt, `${OUT}/only443-absolute`);
      assert.match(abs.body, /outside-site \/only443-absolute/, abs.body);
      const tunnel = await viaKtctl(kt, `${OUT}/only443-connect`, ["-p"]);
      assert.match(tunnel.body, /^HTTP\/1\.1 502/);
      assert.match(tunnel.body, /X-Ktctl-Error: forbidden/);
      // curl shows no body for a failed CONNECT: the reason is in ktctl's log.
      await waitFor(
        () => /the proxy answered HTTP\/1\.1 403 Forbidden/.test(kt.output()),
        5_000,
        "the proxy's 403 in ktctl's log",
      );
    } finally {
      await kt.stop();
      await squid.stop();
    }
  },
);

Deno.test(
  "--upstreamProxy: a squid that offers only NTLM gives an error that says so",
  opts,
  async () => {
    const squid = await startSquid({ ntlmOnly: true });
    const kt = await connect(["--upstreamProxy", squid.url]);
    try {
      const r = await viaKtctl(kt, `${OUT}/ntlm`);
      assert.match(r.body, /^HTTP\/1\.1 502/);
      assert.match(
        r.body,
        /asks for NTLM authentication \(Windows sign-in\), which ktctl does not do/,
      );
    } finally {
      await kt.stop();
      await squid.stop();
    }
  },
);

Deno.test(
  "--upstreamProxy pac+http://: squid for one host (after a dead proxy), DIRECT for another",
  opts,
  async () => {
    const squid = await startSquid();
    // The first proxy the PAC names is down: the next one (squid) is used.
    const deadPort = freePort();
    let fetched = 0;
    const pac = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
      fetched++;
      return new Response(
        `function FindProxyForURL(url, host) {
        if (host === "127.0.0.1" && shExpMatch(url, "*:${outside.addr.port}/*")) {
          return "PROXY 127.0.0.1:${deadPort}; PROXY 127.0.0.1:${squid.port}; DIRECT";
        }
        return "DIRECT";
      }`,
        { headers: { "content-type": "application/x-ns-proxy-autoconfig" } },
      );
    });
    const kt = await connect(["--upstreamProxy", `pac+http://127.0.0.1:${pac.addr.port}/x.pac`]);
    try {
      await threeWays(kt, "pac");
      await waitFor(
        async () => (await squidSaw(squid, `127.0.0.1:${outside.addr.port}`)) >= 3,
        5_000,
        "three CONNECTs in squid's log",
      );
      assert.match((await viaKtctl(kt, `${BYPASSED}/pac-direct`)).body, /bypassed-site/);
      assert.ok(!(await squid.accessLog()).includes("127.0.0.2"));
      assert.equal(fetched, 1, "the PAC file was fetched once");
    } finally {
      await kt.stop();
      await squid.stop();
      await pac.shutdown();
    }
  },
);

Deno.test(
  "API traffic: a dead https_proxy does not stop connect to an API server on loopback",
  opts,
  async () => {
    const dead = `http://127.0.0.1:${freePort()}`;
    const kt = await connect([], { https_proxy: dead, HTTPS_PROXY: dead, no_proxy: "" });
    try {
      assert.match(kt.output(), /Connected to /);
      const web = await viaKtctl(kt, `http://${WEB.service}.${WEB.namespace}/`);
      assert.match(web.body, /^HTTP\/1\.1 200/, web.stderr + web.body);
    } finally {
      await kt.stop();
    }
  },
);

Deno.test("ExternalName services pointing at this machine are refused", opts, async () => {
  const ns = `ktctl-upstream-e2e-${Date.now() % 100000}`;
  await kubectl(["create", "namespace", ns]);
  try {
    await kubectl([
      "-n",
      ns,
      "create",
      "service",
      "externalname",
      "home",
      "--external-name",
      "localhost",
    ]);
    await kubectl([
      "-n",
      ns,
      "create",
      "service",
      "externalname",
      "loop",
      "--external-name",
      "127.0.0.1",
    ]);
    const kt = await connect([]);
    try {
      for (const name of ["home", "loop"]) {
        let r = { body: "", stderr: "", code: 0 };
        await waitFor(
          async () => {
            r = await viaKtctl(kt, `http://${name}.${ns}:${outside.addr.port}/`);
            return /X-Ktctl-Error: policy/i.test(r.body);
          },
          15_000,
          `${name}.${ns} refused by policy`,
        );
        assert.match(r.body, /^HTTP\/1\.1 502/);
        assert.match(r.body, /points at this machine/, r.body);
        assert.ok(!r.body.includes("outside-site"), "the local site was reached");
      }
      const socks = await socks5Connect(kt.port, `home.${ns}`, outside.addr.port);
      socks.conn.close();
      assert.equal(socks.reply, 2, "SOCKS5 'not allowed by ruleset'");
      // A name in a namespace ktctl sees is answered from the cluster.
      const nosuch = await viaKtctl(kt, `http://nosuch.${ns}/`);
      assert.match(
        nosuch.body,
        new RegExp(`no service nosuch in namespace ${ns} \\(it has: home, loop\\)`),
      );
    } finally {
      await kt.stop();
    }
  } finally {
    await kubectl(["delete", "namespace", ns, "--wait=false"]);
  }
});

Deno.test(
  "--upstreamProxy socks5://: a second ktctl as the SOCKS5 upstream, chained to squid",
  opts,
  async () => {
    const squid = await startSquid();
    const second = await connect(["--upstreamProxy", squid.url]);
    const first = await connect(["--upstreamProxy", `socks5://127.0.0.1:${second.port}`]);
    try {
      await threeWays(first, "socks-chain");
      await waitFor(
        async () => (await squidSaw(squid, `127.0.0.1:${outside.addr.port}`)) >= 3,
        5_000,
        "three CONNECTs in squid's log, through the SOCKS5 upstream",
      );
      assert.match(first.output(), new RegExp(`via upstream 127\\.0\\.0\\.1:${second.port}`));
      await second.stop();
      const down = await viaKtctl(first, `${OUT}/socks-down`);
      assert.match(down.body, /^HTTP\/1\.1 502/);
      assert.match(
        down.body,
        new RegExp(`the upstream proxy socks5://127\\.0\\.0\\.1:${second.port}`),
      );
    } finally {
      await first.stop();
      await second.stop();
      await squid.stop();
    }
  },
);

Deno.test(
  "API traffic: kubeconfig proxy-url through squid; a dead one is named in the error",
  opts,
  async () => {
    const squid = await startSquid();
    const viaSquid = await deriveKubeconfig(
      info.kubeconfigs.token,
      `${home}/proxied.kubeconfig`,
      (c) => {
        c["proxy-url"] = squid.url;
      },
    );
    const deadUrl = `http://127.0.0.1:${freePort()}`;
    const dead = await deriveKubeconfig(info.kubeconfigs.token, `${home}/dead.kubeconfig`, (c) => {
      c["proxy-url"] = deadUrl;
    });
    try {
      const kt = await startKtctl(
        ["-c", viaSquid, "-n", WEB.namespace, "--method", "http", ...SAFE],
        { env: { HOME: home, USERPROFILE: home } },
      );
      try {
        const web = await viaKtctl(kt, `http://${WEB.service}.${WEB.namespace}/`);
        assert.match(web.body, /^HTTP\/1\.1 200/, web.body + web.stderr);
      } finally {
        await kt.stop();
      }
      // API calls and the port-forward went through squid (it logs a tunnel when it ends).
      await waitFor(
        async () => (await squidSaw(squid, `CONNECT 127.0.0.1:${apiPort}`)) >= 2,
        10_000,
        "ktctl's API tunnels in squid's log",
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "main.ts", "connect", "-c", dead, "--proxyPort", String(freePort())],
        env: { HOME: home, USERPROFILE: home },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, text);
      assert.match(
        text,
        new RegExp(
          `cannot reach the API server at https://127\\.0\\.0\\.1:${apiPort} through the proxy ${
            deadUrl.replaceAll(".", "\\.")
          } \\(from kubeconfig proxy-url\\): connecting to the proxy failed`,
        ),
      );
    } finally {
      await squid.stop();
    }
  },
);

Deno.test(
  "a no_proxy that covers the cluster gets one WRN line naming the entry",
  opts,
  async () => {
    const kt = await connect([], { no_proxy: "localhost,.cluster.local,10.0.0.0/8" });
    try {
      const warnings = kt.output().split("\n").filter((l) => / WRN .*no_proxy/.test(l));
      assert.equal(warnings.length, 1, kt.output());
      assert.match(warnings[0], /"\.cluster\.local"/);
      assert.match(warnings[0], /curl, Go and most tools will not send names under cluster\.local/);
    } finally {
      await kt.stop();
    }
  },
);

Deno.test({
  name: "upstream e2e: stop the sites",
  ...opts,
  ignore: false,
  fn: async () => {
    await outside.shutdown();
    await bypassed.shutdown();
  },
});
