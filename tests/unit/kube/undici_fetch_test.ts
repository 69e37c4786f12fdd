/**
 * src/kube/undici_fetch.ts and undici_socks.ts: API requests through a SOCKS `proxy-url`, with
 * the real microsocks (Debian's) as the proxy and loopback origins over HTTP and HTTPS. The
 * HTTPS origin is addressed by IP, which client-node's connector sent as the TLS server name
 * (Deno's node:tls threw, and the process ended).
 */
import assert from "node:assert/strict";
import { UndiciClient } from "../../../src/kube/undici_fetch.ts";
import { certChain } from "../../../testenv/tls_cert.ts";
import { startMicrosocks } from "../../helpers/microsocks.ts";
import { freePort } from "../../../testenv/ktctl_process.ts";

async function withMicrosocks(
  args: string[],
  body: (url: string) => Promise<void>,
): Promise<void> {
  const proxy = await startMicrosocks(args);
  try {
    await body(proxy.url);
  } finally {
    await proxy.stop();
  }
}

const pki = await certChain();
const handler = (req: Request) =>
  new Response(`${new URL(req.url).pathname} ${req.headers.get("authorization")}`);

Deno.test("undici: API requests through a SOCKS5 proxy-url, to an HTTPS server named by IP", async () => {
  const https = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {}, ...pki.server },
    handler,
  );
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  try {
    await withMicrosocks([], async (proxyUrl) => {
      const client = new UndiciClient(proxyUrl, undefined);
      try {
        const init = (signal = AbortSignal.timeout(10_000)) => ({
          method: "GET",
          headers: { Authorization: "Bearer t" },
          signal,
        });
        const r = await client.fetch(
          `https://127.0.0.1:${https.addr.port}/api`,
          init(),
          { ca: pki.ca },
        );
        assert.equal(await r.text(), "/api Bearer t");
        const plain = await client.fetch(`http://127.0.0.1:${http.addr.port}/plain`, init(), {});
        assert.equal(await plain.text(), "/plain Bearer t");
        // The server's certificate is still checked through the tunnel.
        await assert.rejects(
          client.fetch(`https://127.0.0.1:${https.addr.port}/api`, init(), {}),
        );
      } finally {
        client.close();
      }
    });
  } finally {
    await https.shutdown();
    await http.shutdown();
  }
});

Deno.test("undici: a SOCKS5 proxy that refuses the destination or the credentials is an error, not a crash", async () => {
  const closed = freePort();
  await withMicrosocks(["-u", "user", "-P", "secret"], async (proxyUrl) => {
    const ask = async (url: string) => {
      const client = new UndiciClient(url, undefined);
      try {
        const r = await client.fetch(`http://127.0.0.1:${closed}/`, {
          method: "GET",
          headers: {},
          signal: AbortSignal.timeout(10_000),
        }, {});
        return `status ${r.status}`;
      } catch (e) {
        return String((e as { cause?: unknown }).cause ?? e);
      } finally {
        client.close();
      }
    };
    const withCredentials = proxyUrl.replace("socks5://", "socks5://user:secret@");
    assert.match(
      await ask(withCredentials),
      /the SOCKS proxy 127\.0\.0\.1:\d+: (connection refused|general failure|host unreachable)/,
    );
    assert.match(
      await ask(proxyUrl.replace("socks5://", "socks5://user:wrong@")),
      /the proxy refused the credentials/,
    );
    assert.match(await ask(proxyUrl), /accepts none of the offered authentication methods/);
  });
});
