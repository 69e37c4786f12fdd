/**
 * net/tls_warmup.ts: the early P-256 key that seeds the TLS library's random generator on another
 * thread. What it saves is a timing (bench/tls_warmup.ts prints it); here, that it never fails a
 * command and that TLS works after it, with a client certificate too.
 */
import assert from "node:assert/strict";
import { warmTlsRandom } from "../../../src/net/tls_warmup.ts";
import { certChain } from "../../../testenv/tls_cert.ts";
import { readExactly } from "../../../testenv/bytes.ts";
import { PROGRAM } from "../../../src/cli/command_spec.ts";

const pki = await certChain();

Deno.test("warm-up: resolves, and TLS with a client certificate works after it", async () => {
  await warmTlsRandom();
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pki.server.cert,
    key: pki.server.key,
  });
  const served = (async () => {
    const conn = await listener.accept();
    try {
      await conn.handshake();
      await conn.write(new TextEncoder().encode("hello"));
    } finally {
      conn.close();
    }
  })();
  const client = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: listener.addr.port,
    caCerts: [pki.ca],
    cert: pki.client.cert,
    key: pki.client.key,
  });
  try {
    assert.equal(new TextDecoder().decode(await readExactly(client, 5)), "hello");
  } finally {
    client.close();
    await served;
    listener.close();
  }
});

Deno.test("warm-up: a runtime whose WebCrypto refuses the key does not fail the command", async () => {
  const subtle = crypto.subtle;
  const original = subtle.generateKey;
  try {
    Object.defineProperty(subtle, "generateKey", {
      configurable: true,
      value: () => Promise.reject(new DOMException("not supported", "NotSupportedError")),
    });
    assert.equal(await warmTlsRandom(), undefined);
    Object.defineProperty(subtle, "generateKey", {
      configurable: true,
      value: () => {
        throw new TypeError("no EC keys here");
      },
    });
    assert.equal(await warmTlsRandom(), undefined);
  } finally {
    Object.defineProperty(subtle, "generateKey", { configurable: true, value: original });
  }
});

Deno.test("warm-up: only the commands that open TLS connections ask for it", () => {
  const early = PROGRAM.commands.filter((c) => c.reachesCluster).map((c) => c.name);
  assert.deepEqual(early, ["connect", "forward"]);
});
