/**
 * The portable PAC evaluator: a company's script runs without ktctl's permissions, its DNS
 * helpers are answered by restarting the evaluation, and a script that never answers costs one
 * thread and gives DIRECT. The PAC file is fetched directly, whatever http_proxy says.
 */
import assert from "node:assert/strict";
import { fetchPac, pacSandboxFromText } from "../../../src/net/pac_sandbox.ts";

const SCRIPT = `
function FindProxyForURL(url, host) {
  if (host === "files") return String(Deno.readTextFileSync("/etc/hostname"));
  if (host === "env") return String(Deno.env.get("HOME"));
  if (isInNet(host, "10.0.0.0", "255.0.0.0")) return "PROXY ten:3128";
  if (dnsResolve(host) === "192.0.2.1" && isResolvable("also.example")) return "PROXY two:1";
  if (shExpMatch(url, "https://*.corp/*") && !isPlainHostName(host)) return "SOCKS5 corp:1080; DIRECT";
  if (myIpAddress() === "198.51.100.7" && dnsDomainLevels(host) === 0) return "PROXY me:1";
  return "DIRECT";
}`;

Deno.test("PAC sandbox: the script has no permissions; DNS helpers are answered by ktctl", async () => {
  const asked: string[] = [];
  const errors: string[] = [];
  const pac = pacSandboxFromText(SCRIPT, {
    resolve: (h) => {
      asked.push(h);
      return Promise.resolve(
        ({ "ten.example": "10.1.2.3", "two.example": "192.0.2.1", "also.example": "192.0.2.2" })[
          h
        ] ?? null,
      );
    },
    myIp: () => "198.51.100.7",
    onError: (m) => errors.push(m),
  });
  try {
    // Files, environment, network: refused inside the Worker; the answer falls back to DIRECT.
    for (const host of ["files", "env"]) {
      assert.equal(await pac.find(`http://${host}/`, host), "DIRECT", host);
    }
    assert.equal(errors.length, 2);
    assert.match(errors[0], /Requires read access|NotCapable/);
    assert.match(errors[1], /Requires env access|NotCapable/);
    assert.equal(await pac.find("http://ten.example/", "ten.example"), "PROXY ten:3128");
    assert.equal(await pac.find("http://two.example/", "two.example"), "PROXY two:1");
    assert.equal(await pac.find("https://a.corp/", "a.corp"), "SOCKS5 corp:1080; DIRECT");
    assert.equal(await pac.find("http://printer/", "printer"), "PROXY me:1");
    // Each name was resolved once, by ktctl, and kept.
    assert.deepEqual(asked.filter((h) => h === "two.example"), ["two.example"]);
    assert.ok(asked.includes("also.example"));
  } finally {
    pac.close?.();
  }
});

Deno.test("PAC sandbox: a script that never answers gives DIRECT and is not used again", async () => {
  // In a child process: Deno 2.9.6 cannot stop a Worker spinning in a loop, so the child exits.
  const code = `
    import { pacSandboxFromText } from ${
    JSON.stringify(new URL("../../../src/net/pac_sandbox.ts", import.meta.url).href)
  };
    const pac = pacSandboxFromText("function FindProxyForURL(u, h) { if (h === 'loop') { while (true) {} } return 'PROXY p:1'; }", { onError: (m) => console.log("ERR " + m) });
    console.log(await pac.find("http://a/", "a"));
    const t = Date.now();
    console.log(await pac.find("http://loop/", "loop"));
    console.log(await pac.find("http://a/", "a"));
    console.log("took " + (Date.now() - t));
    Deno.exit(0);`;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, code);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-worker-options",
        "--config",
        new URL("../../../deno.json", import.meta.url).pathname,
        file,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const lines = text.trim().split("\n");
    assert.equal(lines[0], "PROXY p:1", text + new TextDecoder().decode(out.stderr));
    assert.match(
      lines[1],
      /^ERR PAC evaluation for loop failed \(no answer within 2000 ms: the PAC file is not used any more\): DIRECT$/,
    );
    assert.equal(lines[2], "DIRECT");
    assert.equal(lines[3], "DIRECT", "the script was used again after it hung");
    assert.ok(Number(lines[4].split(" ")[1]) < 5_000);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("PAC fetch: direct, whatever http_proxy says; bounded", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/big"
        ? new Response(new Uint8Array(1024 * 1024 + 1))
        : new Response("function FindProxyForURL() { return 'DIRECT'; }"),
  );
  const saved = Deno.env.get("http_proxy");
  Deno.env.set("http_proxy", "http://127.0.0.1:1");
  try {
    assert.match(await fetchPac(`http://127.0.0.1:${server.addr.port}/x.pac`), /FindProxyForURL/);
    await assert.rejects(fetchPac(`http://127.0.0.1:${server.addr.port}/big`), /over 1 MiB/);
  } finally {
    saved === undefined ? Deno.env.delete("http_proxy") : Deno.env.set("http_proxy", saved);
    await server.shutdown();
  }
});
