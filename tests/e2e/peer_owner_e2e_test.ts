/**
 * Only the user's own programs may use the proxy (issue 13.6), on Linux with real curl: a curl run
 * as the user nobody (`runuser`) is closed at accept, before any byte is read (issue 19.4: no
 * protocol answer, so curl sees the connection end), with one WRN line; this user's curl works,
 * and with `--allowOtherUsers` both work. Needs root (runuser).
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, WEB } from "../../testenv/cluster/mod.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";

const asRoot = Deno.build.os === "linux" && Deno.uid() === 0;
const opts = { sanitizeOps: false, sanitizeResources: false, ignore: !asRoot };
if (asRoot) await ensureCluster();
const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128"];

/** curl through `proxy`, as this user or (with `as`) another one, in a clean environment. */
async function curlAs(as: string | undefined, proxy: string, url: string) {
  const curl = [
    "env",
    "-i",
    "PATH=/usr/bin:/bin",
    "curl",
    "-fsS",
    "--max-time",
    "10",
    "--proxy",
    proxy,
    url,
  ];
  const out = await new Deno.Command(as ? "runuser" : curl[0], {
    args: as ? ["-u", as, "--", ...curl] : curl.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, body: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const warnings = (output: string) => output.split("\n").filter((l) => / WRN /.test(l));

/** What curl says for each method when the proxy closes the connection without a byte. */
const REFUSED: Record<string, { scheme: string; refusal: RegExp }> = {
  socks: { scheme: "socks4a", refusal: /SOCKS4|reset|closed/i },
  socks5: { scheme: "socks5h", refusal: /SOCKS5|reset|closed/i },
  http: { scheme: "http", refusal: /Empty reply|reset|Recv failure/i },
};

for (const [method, { scheme, refusal }] of Object.entries(REFUSED)) {
  Deno.test(
    `--method ${method}: another user's curl is refused, this user's works`,
    opts,
    async () => {
      const info = await clusterInfo();
      const ktctl = await startKtctl(["-c", info.kubeconfigs.admin, "--method", method, ...SAFE]);
      const proxy = `${scheme}://127.0.0.1:${ktctl.port}`;
      const url = `http://${WEB.service}.${WEB.namespace}/`;
      try {
        const own = await curlAs(undefined, proxy, url);
        assert.equal(own.code, 0, own.stderr);
        assert.match(own.body, /^pod=demo\/web-\d\n/);
        const before = warnings(ktctl.output()).length;
        const other = await curlAs("nobody", proxy, url);
        assert.notEqual(other.code, 0, `nobody got through: ${other.body}`);
        assert.match(other.stderr, refusal);
        // One WRN line for the refused connection (waiting for it: the log may trail the reply).
        const deadline = Date.now() + 5_000;
        while (warnings(ktctl.output()).length === before && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        const added = warnings(ktctl.output()).slice(before);
        assert.equal(added.length, 1, added.join("\n"));
        assert.match(added[0], /65534|nobody/);
      } finally {
        assert.equal(await ktctl.stop(), 0);
      }
    },
  );
}

Deno.test("--allowOtherUsers: another user's curl works too", opts, async () => {
  const info = await clusterInfo();
  const ktctl = await startKtctl([
    "-c",
    info.kubeconfigs.admin,
    "--method",
    "socks5",
    "--allowOtherUsers",
    ...SAFE,
  ]);
  try {
    for (const as of [undefined, "nobody"]) {
      const r = await curlAs(
        as,
        `socks5h://127.0.0.1:${ktctl.port}`,
        `http://${WEB.service}.${WEB.namespace}/`,
      );
      assert.equal(r.code, 0, `${as ?? "own"}: ${r.stderr}`);
      assert.match(r.body, /^pod=demo\/web-\d\n/);
    }
  } finally {
    assert.equal(await ktctl.stop(), 0);
  }
});
