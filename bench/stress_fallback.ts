/**
 * Stress loop for issue 13.1: the first connection through a fresh ktctl, against an API server
 * that refuses the SPDY tunnel (the fake one answers 400, so ktctl falls back to one WebSocket
 * per connection), must never hang, also with CPU-bound processes beside it.
 *
 *   deno run -A bench/stress_fallback.ts [--runs 30] [--load 2]
 *
 * Prints one line per run and a summary; exits 1 if any first connection failed.
 * Not part of CI: it takes minutes, and only says something under load.
 * @module
 */
import { parseArgs } from "node:util";
import { applyOneWebPod, FakeApiServer } from "../testenv/fake_apiserver.ts";
import { httpBackend } from "../testenv/backends.ts";
import { startKtctl } from "../testenv/ktctl_process.ts";
import { curl } from "../testenv/socks_client.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "30" }, load: { type: "string", default: "2" } },
});
const runs = Number(values.runs);
const load = Array.from(
  { length: Number(values.load) },
  () => new Deno.Command("sh", { args: ["-c", "exec yes > /dev/null"] }).spawn(),
);

const failures: string[] = [];
const dir = await Deno.makeTempDir({ prefix: "ktctl-stress-" });
try {
  for (let run = 1; run <= runs; run++) {
    const api = new FakeApiServer();
    const backend = httpBackend("demo/web-1");
    applyOneWebPod(api, backend.port);
    await Deno.writeTextFile(`${dir}/kubeconfig`, api.kubeconfig("admin-token", "demo"));
    const ktctl = await startKtctl(
      ["-c", `${dir}/kubeconfig`, "--method", "socks5", "--dialDirect", "127.0.0.0/8,::1/128"],
      { env: { HOME: dir, USERPROFILE: dir, NO_COLOR: "1" } },
    );
    const started = performance.now();
    const r = await curl(ktctl.proxyUrl, "http://web.demo/first");
    const ms = Math.round(performance.now() - started);
    const ok = r.code === 0 && r.body.startsWith("pod=demo/web-1\n");
    const fellBack = /does not tunnel SPDY/.test(ktctl.output());
    console.log(`run ${run}: ${ok ? "ok" : "FAILED"} in ${ms} ms (fell back: ${fellBack})`);
    if (!ok) failures.push(`run ${run}: curl ${r.code} ${r.stderr.trim()}\n${ktctl.output()}`);
    await ktctl.stop();
    await api.close();
    await backend.close();
  }
} finally {
  for (const p of load) p.kill();
  await Promise.all(load.map((p) => p.status));
  await Deno.remove(dir, { recursive: true });
}
console.log(
  `${runs - failures.length}/${runs} first connections ok with ${load.length} busy loops`,
);
for (const f of failures) console.log(f);
Deno.exit(failures.length > 0 ? 1 : 0);
