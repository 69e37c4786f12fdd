/**
 * Connections to the API server for every kubeconfig kind, against a loopback TLS server that
 * reports the client certificate and the SNI it saw: which TLS engine serves which settings,
 * that verification stays on unless skipped, proxies, per-step deadlines, and the node:tls
 * adapter's backpressure.
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import { serverDialer, type ServerTransport, tlsEngine } from "../../../src/net/server_dial.ts";
import { DialError } from "../../../src/net/upstream.ts";
import { certChain } from "../../../testenv/tls_cert.ts";
import { connectProxy } from "../../helpers/connect_proxy.ts";
import { waitSteady } from "../../helpers/wait.ts";

const pki = await certChain();

/** A TLS server answering `peer=<client CN> sni=<name>\n`, or streaming `stream` bytes. */
async function tlsServer(stream = 0) {
  let written = 0;
  const server = tls.createServer({
    cert: pki.server.cert,
    key: pki.server.key,
    ca: pki.ca,
    requestCert: true,
    rejectUnauthorized: false,
  }, (s) => {
    s.on("error", () => {});
    if (stream > 0) {
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (written < stream) {
          written += chunk.length;
          if (!s.write(chunk)) return void s.once("drain", pump);
        }
        s.end();
      };
      return pump();
    }
    const peer = s.getPeerCertificate();
    s.end(
      `peer=${peer?.subject?.CN ?? "none"} sni=${
        (s as { servername?: string }).servername || "none"
      }\n`,
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `wss://127.0.0.1:${port}/`,
    port,
    written: () => written,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function hello(url: string, t: ServerTransport): Promise<string> {
  const conn = await serverDialer(url, t, 5000)();
  try {
    const buf = new Uint8Array(256);
    let text = "";
    while (!text.endsWith("\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text.trim();
  } finally {
    conn.close();
  }
}

const client = { cert: pki.client.cert, key: pki.client.key };

Deno.test("server dial: each kubeconfig kind gets through, on the TLS engine it needs", async () => {
  const server = await tlsServer();
  const proxy = connectProxy();
  try {
    const cases: [string, ServerTransport, "deno" | "node", RegExp][] = [
      ["CA and client certificate", { caCerts: [pki.ca], ...client }, "deno", /^peer=ktctl-test /],
      ["token, CA only", { caCerts: [pki.ca] }, "deno", /^peer=none sni=none$/],
      [
        "token with a server name",
        { caCerts: [pki.ca], serverName: "kubernetes.test" },
        "deno",
        /^peer=none sni=kubernetes.test$/,
      ],
      [
        "client certificate with a server name",
        { caCerts: [pki.ca], serverName: "kubernetes.test", ...client },
        "node",
        /^peer=ktctl-test sni=kubernetes.test$/,
      ],
      ["verification skipped", { insecure: true, ...client }, "node", /^peer=ktctl-test /],
      ["token through a proxy", { caCerts: [pki.ca], proxyUrl: proxy.url }, "deno", /^peer=none /],
      [
        "client certificate through a proxy",
        { caCerts: [pki.ca], proxyUrl: proxy.url, ...client },
        "node",
        /^peer=ktctl-test /,
      ],
    ];
    for (const [what, t, engine, expected] of cases) {
      assert.equal(tlsEngine(server.url, t), engine, what);
      assert.match(await hello(server.url, t), expected, what);
    }
    assert.equal(proxy.tunnels.length, 2);
    assert.ok(proxy.tunnels.every((t) => t === `127.0.0.1:${server.port}`));
  } finally {
    await proxy.close();
    await server.close();
  }
});

Deno.test("server dial: Nagle's algorithm is off wherever ktctl makes the socket, on only for connectTls's", async () => {
  const server = await tlsServer();
  try {
    // connectTls (needed for a client certificate) gives no way to set TCP_NODELAY; a CA alone,
    // a token's connection, is TCP of ktctl's own, then startTls.
    const cases: [string, ServerTransport, true | undefined][] = [
      ["CA only", { caCerts: [pki.ca] }, true],
      ["CA and client certificate", { caCerts: [pki.ca], ...client }, undefined],
    ];
    for (const [what, t, noDelay] of cases) {
      const conn = await serverDialer(server.url, t, 5000)();
      try {
        assert.equal(conn.noDelay, noDelay, what);
        const buf = new Uint8Array(256);
        const n = await conn.read(buf);
        assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^peer=/, what);
      } finally {
        conn.close();
      }
    }
  } finally {
    await server.close();
  }
});

Deno.test("server dial: verification stays on unless the kubeconfig skips it", async () => {
  const server = await tlsServer();
  try {
    for (
      const t of [{}, { caCerts: [pki.ca], serverName: "wrong.test" }, {
        serverName: "kubernetes.test",
        ...client,
      }]
    ) {
      await assert.rejects(hello(server.url, t), (e: unknown) => {
        assert.ok(e instanceof DialError, String(e));
        assert.equal(e.kind, "unreachable");
        assert.match(e.message, /TLS handshake with 127\.0\.0\.1:\d+ failed/);
        assert.ok(e.cause, "the original error is kept");
        return true;
      });
    }
  } finally {
    await server.close();
  }
});

Deno.test("server dial: a silent TLS server or proxy is a timeout that names the step", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) held.push(c);
  })().catch(() => {});
  try {
    const url = `wss://127.0.0.1:${silent.addr.port}/`;
    const proxyUrl = `http://127.0.0.1:${silent.addr.port}`;
    const steps: [ServerTransport, RegExp][] = [
      [{ caCerts: [pki.ca] }, /^TLS handshake with 127\.0\.0\.1:\d+: no answer within 300 ms$/],
      [{ insecure: true }, /^TLS handshake with/],
      [
        { proxyUrl },
        /^CONNECT 127\.0\.0\.1:\d+ through the proxy http:\/\/127\.0\.0\.1:\d+: no answer within 300 ms$/,
      ],
    ];
    for (const [t, message] of steps) {
      await assert.rejects(serverDialer(url, t, 300)(), (e: unknown) => {
        assert.ok(e instanceof DialError, String(e));
        assert.equal(e.kind, "timeout");
        assert.match(e.message, message);
        return true;
      });
    }
  } finally {
    silent.close();
    for (const c of held) c.close();
    await accepting;
  }
});

Deno.test("server dial: a proxy that refuses CONNECT is a clear failure", async () => {
  const proxy = connectProxy({ user: "u", password: "p" });
  const server = await tlsServer();
  try {
    await assert.rejects(
      hello(server.url, { caCerts: [pki.ca], proxyUrl: proxy.url }),
      /CONNECT 127\.0\.0\.1:\d+ through the proxy http:\/\/127\.0\.0\.1:\d+: the proxy asks for credentials \(407.*\): give them as the proxy URL/,
    );
    const withAuth = proxy.url.replace("http://", "http://u:p@");
    assert.match(await hello(server.url, { caCerts: [pki.ca], proxyUrl: withAuth }), /^peer=none/);
  } finally {
    await proxy.close();
    await server.close();
  }
});

Deno.test("node:tls adapter: a reader that stops reading stops the network reads", async () => {
  const total = 64 * 1024 * 1024;
  const server = await tlsServer(total);
  try {
    const conn = await serverDialer(server.url, { insecure: true }, 5000)();
    const buf = new Uint8Array(64 * 1024);
    let got = (await conn.read(buf))!;
    assert.ok(got > 0);
    // Wait until the server is stuck on TCP backpressure, then check how far it got.
    await waitSteady(() => server.written(), 20_000, "the server's writes", 2, 200);
    // 1 MiB held by the adapter plus socket buffers; Deno's node:tls alone took in everything.
    assert.ok(server.written() < 32 * 1024 * 1024, `server wrote ${server.written()} bytes`);
    while (got < total) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += n;
    }
    assert.equal(got, total);
    conn.close();
  } finally {
    await server.close();
  }
});
