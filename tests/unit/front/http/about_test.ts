/**
 * The live page's two forms: `connect`'s explains the proxy, `ktctl forward`'s only the forwards
 * (it has no proxy to point at); both carry the forwards table the script fills, and the script
 * itself parses.
 */
import assert from "node:assert/strict";
import { renderAbout } from "../../../../src/front/http/about.ts";

const input = {
  version: "test",
  cluster: "context dev at https://10.0.0.1:6443",
  hostPort: "127.0.0.1:2223",
};

function script(html: string): string {
  const m = html.match(/<script>([\s\S]*)<\/script>/);
  assert.ok(m, "the page has its script");
  return m[1];
}

Deno.test("about: connect's page explains the proxy and has the forwards table", () => {
  const html = renderAbout(input);
  assert.match(html, /Local proxy into the Kubernetes cluster context dev/);
  assert.match(html, /SOCKS proxy: <code>socks5h:\/\/127\.0\.0\.1:2223<\/code>/);
  assert.match(html, /<tbody id="fwd-body"><\/tbody>/);
  new Function(script(html)); // throws on a syntax error
});

Deno.test("about: ktctl forward's page has no proxy to explain", () => {
  const html = renderAbout({ ...input, command: "forward" });
  assert.match(html, /Forwards \(ktctl forward\) into the Kubernetes cluster/);
  assert.doesNotMatch(html, /socks5h|proxy\.pac|http_proxy/);
  assert.match(html, /<tbody id="fwd-body"><\/tbody>/);
  assert.equal(script(html), script(renderAbout(input)));
});
