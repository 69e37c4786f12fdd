/**
 * What ktctl's PAC answers outside the cluster, kept current from the previous configuration:
 * fixed proxies as they are, a previous PAC fetched (through an injected fetch) and kept when a
 * refresh fails, automatic detection's URL before the configured one, and the real fetch's limits.
 */
import assert from "node:assert/strict";
import {
  fetchPacText,
  MAX_PAC_BYTES,
  PreviousPac,
  staticPrevious,
} from "../../../src/cli/previous_pac.ts";

const SQUID = { protocol: "http" as const, host: "127.0.0.1", port: 3128 };
const FIXED = { kind: "fixed" as const, other: SQUID, bypass: ["*.corp"], bypassLocal: true };

Deno.test("fixed and none need no fetch", async () => {
  for (const config of [undefined, { kind: "none" } as const, FIXED]) {
    const pac = await PreviousPac.start(config, {
      fetchText: () => Promise.reject(new Error("must not fetch")),
    });
    assert.deepEqual(pac.current(), staticPrevious(config));
    pac.stop();
  }
  assert.deepEqual(staticPrevious(FIXED), FIXED);
  assert.deepEqual(staticPrevious(undefined), { kind: "direct" });
});

Deno.test("a PAC URL is fetched at start; a failed refresh keeps the last copy", async () => {
  let answer: string | Error = "function FindProxyForURL() { return 'DIRECT'; }";
  const asked: string[] = [];
  const pac = await PreviousPac.start({ kind: "pac", url: "http://wpad/p.pac" }, {
    fetchText: (url) => {
      asked.push(url);
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  });
  try {
    assert.deepEqual(pac.current(), {
      kind: "script",
      url: "http://wpad/p.pac",
      text: "function FindProxyForURL() { return 'DIRECT'; }",
      fallback: { kind: "direct" },
    });
    answer = new Error("down");
    await pac.refresh();
    assert.equal(
      (pac.current() as { text: string }).text,
      "function FindProxyForURL() { return 'DIRECT'; }",
    );
    answer = "function FindProxyForURL() { return 'PROXY a:1'; }";
    await pac.refresh();
    assert.equal((pac.current() as { text: string }).text, answer);
    assert.deepEqual(asked, ["http://wpad/p.pac", "http://wpad/p.pac", "http://wpad/p.pac"]);
  } finally {
    pac.stop();
  }
});

Deno.test("auto-detect: the detected URL first, else the configured one; fallback kept", async () => {
  const asked: string[] = [];
  const fetchText = (url: string) => (asked.push(url), Promise.resolve("var x;"));
  const detected = await PreviousPac.start(
    { kind: "auto-detect", pacUrl: "http://configured/p", fallback: FIXED },
    { fetchText, detect: () => Promise.resolve("http://wpad.corp/wpad.dat") },
  );
  detected.stop();
  const none = await PreviousPac.start(
    { kind: "auto-detect", pacUrl: "http://configured/p", fallback: FIXED },
    { fetchText, detect: () => Promise.reject(new Error("no WPAD")) },
  );
  none.stop();
  assert.deepEqual(asked, ["http://wpad.corp/wpad.dat", "http://configured/p"]);
  assert.deepEqual(none.current(), {
    kind: "script",
    url: "http://configured/p",
    text: "var x;",
    fallback: FIXED,
  });
  // Nothing detected and nothing configured: the fallback answers.
  const fallback = await PreviousPac.start({ kind: "auto-detect", fallback: FIXED }, {
    fetchText,
    detect: () => Promise.resolve(undefined),
  });
  fallback.stop();
  assert.deepEqual(fallback.current(), FIXED);
});

Deno.test("the real fetch: http only, a size limit, an HTTP error is an error", async () => {
  await assert.rejects(() => fetchPacText("file:///etc/passwd"), /only http and https/);
  const big = "x".repeat(MAX_PAC_BYTES + 1);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/big") return new Response(big);
    if (path === "/missing") return new Response("no", { status: 404 });
    return new Response("function FindProxyForURL() { return 'DIRECT'; }");
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    assert.match(await fetchPacText(`${base}/p.pac`), /FindProxyForURL/);
    await assert.rejects(() => fetchPacText(`${base}/big`), /larger than/);
    await assert.rejects(() => fetchPacText(`${base}/missing`), /HTTP 404/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a PAC server that does not answer holds the start up for 3 s at most", async () => {
  let answer: (text: string) => void = () => {};
  const began = Date.now();
  const pac = await PreviousPac.start({ kind: "pac", url: "http://slow/p.pac" }, {
    fetchText: () => new Promise((resolve) => answer = resolve),
  });
  const took = Date.now() - began;
  assert.ok(took >= 2_900 && took < 6_000, `${took} ms`);
  assert.deepEqual(pac.current(), { kind: "direct" });
  // It arrives later: the next PAC served has it.
  answer("var late;");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal((pac.current() as { text: string }).text, "var late;");
  pac.stop();
});
