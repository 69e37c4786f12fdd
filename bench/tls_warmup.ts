/**
 * What net/tls_warmup.ts saves: the first TLS handshake of a fresh process whose main thread is
 * busy for a while first (as ktctl's is, reading and compiling its modules), cold and after the
 * warm-up, against the local control plane's API server. Each run is a new `deno` process (the
 * TLS library's random generator is seeded once per process), cold and warmed alternate, and a
 * second handshake in the same process shows what a handshake costs once seeded.
 *
 *   deno run -A bench/tls_warmup.ts [--runs 8] [--busy-ms 40]
 *
 * Needs `deno task cluster up`. Prints medians and ranges; asserts nothing.
 * @module
 */
import { parseArgs } from "node:util";
import { readInfo } from "../testenv/cluster/cluster.ts";
import { median, rotate } from "./stats.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "8" }, "busy-ms": { type: "string", default: "40" } },
});
const runs = Number(values.runs);
const busyMs = Number(values["busy-ms"]);
const info = await readInfo();
if (!info) throw new Error("no local control plane: run `deno task cluster up` first");
const { hostname, port } = new URL(info.server);

/** The child: optionally warm, keep the main thread busy, then two handshakes, timed. */
const child = (warm: boolean) => `
${
  warm
    ? `import { warmTlsRandom } from ${
      JSON.stringify(import.meta.resolve("../src/net/tls_warmup.ts"))
    };
warmTlsRandom();`
    : ""
}
const ca = await Deno.readTextFile(${JSON.stringify(info.caFile)});
const end = performance.now() + ${busyMs};
while (performance.now() < end) { /* the main thread busy, as while loading modules */ }
async function handshake() {
  const t = performance.now();
  const tcp = await Deno.connect({ hostname: ${JSON.stringify(hostname)}, port: ${Number(port)} });
  tcp.setNoDelay(true);
  const tls = await Deno.startTls(tcp, { hostname: ${JSON.stringify(hostname)}, caCerts: [ca] });
  await tls.handshake();
  tls.close();
  return performance.now() - t;
}
const first = await handshake();
const second = await handshake();
console.log(JSON.stringify({ first, second, total: performance.now() }));
`;

const deno = Deno.execPath();
const results: Record<"cold" | "warmed", { first: number; second: number; total: number }[]> = {
  cold: [],
  warmed: [],
};
const dir = await Deno.makeTempDir({ prefix: "ktctl-tls-warmup-" });
try {
  for (const warm of [false, true]) {
    await Deno.writeTextFile(`${dir}/${warm ? "warmed" : "cold"}.ts`, child(warm));
  }
  for (let i = 0; i < runs; i++) {
    for (const side of rotate(["cold", "warmed"] as const, i)) {
      const out = await new Deno.Command(deno, {
        args: ["run", "-A", "--no-config", `${dir}/${side}.ts`],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      if (!out.success) throw new Error(`the ${side} child failed`);
      results[side].push(JSON.parse(new TextDecoder().decode(out.stdout)));
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

const fmt = (xs: number[]) =>
  `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;
console.log(
  `first TLS handshake to ${info.server} after ${busyMs} ms of main-thread work, ${runs} runs ` +
    `each, alternating (ms: median, range)`,
);
console.log(`| process | first handshake | second handshake | time origin to first done |`);
console.log(`| ------- | --------------- | ---------------- | ------------------------ |`);
for (const side of ["cold", "warmed"] as const) {
  const r = results[side];
  console.log(
    `| ${side} | ${fmt(r.map((x) => x.first))} | ${fmt(r.map((x) => x.second))} | ${
      fmt(r.map((x) => x.total - x.second))
    } |`,
  );
}
