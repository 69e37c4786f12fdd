import assert from "node:assert/strict";
import { clientHost, clientHostPort, clientUrl } from "../../../src/net/client_address.ts";

Deno.test("clientHost: wildcards become loopback of their family, the rest stays", () => {
  const cases: [string, string][] = [
    ["0.0.0.0", "127.0.0.1"],
    ["", "127.0.0.1"],
    ["::", "::1"],
    ["[::]", "::1"],
    ["0:0:0:0:0:0:0:0", "::1"],
    ["127.0.0.1", "127.0.0.1"],
    ["192.168.1.20", "192.168.1.20"],
    ["::1", "::1"],
    ["fe80::1", "fe80::1"],
    ["localhost", "localhost"],
  ];
  for (const [listen, client] of cases) assert.equal(clientHost(listen), client, listen);
});

Deno.test("clientHostPort and clientUrl bracket IPv6 hosts", () => {
  assert.equal(clientHostPort("0.0.0.0", 2223), "127.0.0.1:2223");
  assert.equal(clientHostPort("::", 2223), "[::1]:2223");
  assert.equal(clientUrl("socks4a", "0.0.0.0", 2223), "socks4a://127.0.0.1:2223");
  assert.equal(clientUrl("http", "::", 8080), "http://[::1]:8080");
  assert.equal(clientUrl("socks5h", "10.1.2.3", 1080), "socks5h://10.1.2.3:1080");
});
