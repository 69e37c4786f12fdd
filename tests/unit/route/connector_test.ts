/**
 * The connector opens what routing decided: a PAC answer's hops in turn (a dead proxy, then
 * DIRECT to a loopback server), and when every hop fails, one error that says what each said.
 */
import assert from "node:assert/strict";
import { ClusterIndex } from "../../../src/cluster/index.ts";
import { ClusterConnector } from "../../../src/route/connector.ts";
import { UpstreamChooser } from "../../../src/route/upstream_choice.ts";
import { DialError } from "../../../src/net/upstream.ts";
import { freePort } from "../../../testenv/ktctl_process.ts";
import { parseCidr } from "../../../src/net/ip.ts";

function connector(answer: string) {
  const chooser = new UpstreamChooser(
    { kind: "pac", url: "http://127.0.0.1:1/x.pac" },
    () => ({ find: () => Promise.resolve(answer) }),
  );
  return new ClusterConnector(
    new ClusterIndex(),
    { open: () => Promise.reject(new Error("no cluster in this test")) },
    {
      namespace: "default",
      clusterDomain: "cluster.local",
      direct: { kind: "ranges", ranges: [parseCidr("127.0.0.0/8")] },
      dialTimeoutMs: 2_000,
      upstream: chooser,
    },
  );
}

Deno.test("connector: a dead proxy, then DIRECT: the direct hop is used", async () => {
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = (async () => {
    const c = await server.accept();
    await c.write(new TextEncoder().encode("hello"));
    c.close();
  })();
  try {
    const c = connector(`PROXY 127.0.0.1:${freePort()}; DIRECT`);
    const { upstream, via } = await c.dial("127.0.0.1", server.addr.port);
    assert.match(via, /^upstream 127\.0\.0\.1:\d+$/);
    assert.equal(new TextDecoder().decode((await upstream.read())!), "hello");
    upstream.close();
    await accepted;
  } finally {
    server.close();
  }
});

Deno.test("connector: every hop failing gives one error naming each", async () => {
  const [a, b] = [freePort(), freePort()];
  const c = connector(`PROXY 127.0.0.1:${a}; SOCKS5 127.0.0.1:${b}`);
  await assert.rejects(c.dial("example.test", 443), (e: unknown) => {
    assert.ok(e instanceof DialError);
    assert.equal(e.kind, "unreachable");
    assert.match(
      e.message,
      new RegExp(
        `^cannot connect to the upstream proxy http://127\\.0\\.0\\.1:${a}: .*; then cannot connect to the upstream proxy socks5://127\\.0\\.0\\.1:${b}: `,
      ),
    );
    return true;
  });
});
