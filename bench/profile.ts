/**
 * `deno task profile [get|put] [--mib N] [--times N]`: where ktctl's CPU goes while it carries
 * bulk transfers. Runs the bundle the executables are built from (scripts/bundle.ts) under V8's
 * sampling profiler (`--prof`) on the local control plane, moves N MiB through it a few times
 * with a SOCKS5 client, and prints the summary of `node --prof-process` (Node.js must be on
 * PATH; the log is kept either way). The figures are the benchmark's business
 * (`deno task bench`); this says which part of ktctl, Deno or the kernel spends the time.
 * @module
 */
import { parseArgs } from "node:util";
import { BULK, ensureCluster, WEB } from "../testenv/cluster/mod.ts";
import { bulkGet, bulkPut, socks5 } from "./clients.ts";
import { freePort, stopAll } from "./procs.ts";
import { denoCacheDir, startKtctl } from "./sides.ts";
import { bundleKtctl, REPO_ROOT } from "../scripts/bundle.ts";
import { KTCTL_V8_FLAGS } from "../scripts/v8_flags.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { mib: { type: "string", default: "256" }, times: { type: "string", default: "4" } },
});
const dir = positionals[0] ?? "get";
if (dir !== "get" && dir !== "put") {
  console.error("usage: deno task profile [get|put] [--mib N] [--times N]");
  Deno.exit(2);
}
const bytes = Number(values.mib) * 1024 * 1024;
const work = await Deno.makeTempDir({ prefix: "ktctl-profile-" });
const log = `${work}/v8.log`;

try {
  const info = await ensureCluster();
  const entry = `${work}/ktctl.js`;
  await bundleKtctl(entry);
  const kt = await startKtctl({
    dir: REPO_ROOT,
    kubeconfig: info.kubeconfigs.admin,
    namespace: WEB.namespace,
    method: "socks5",
    portForward: "multiplexed",
    port: freePort(),
    home: work,
    denoDir: await denoCacheDir(),
    v8Flags: [...KTCTL_V8_FLAGS, "--prof", "--no-logfile-per-isolate", `--logfile=${log}`]
      .join(","),
    entry,
  });
  const dialer = socks5(kt.port, `${BULK.service}.${BULK.namespace}`, BULK.port);
  for (let i = 0; i < Number(values.times); i++) {
    const t = dir === "get"
      ? await bulkGet(dialer, bytes, 120_000)
      : await bulkPut(dialer, bytes, 120_000);
    console.log(`${dir} ${values.mib} MiB: ${(t.bytes / t.ms / 1000).toFixed(0)} MB/s`);
  }
  await kt.proc.stop();
  const out = await new Deno.Command("node", {
    args: ["--prof-process", log],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  if (!out?.success) {
    console.log(`node --prof-process did not run; the V8 log is ${log}`);
  } else {
    // The flat sections: shared libraries, JavaScript, C++ and the summary.
    const text = new TextDecoder().decode(out.stdout);
    console.log(text.slice(0, text.indexOf(" [C++ entry points]")).trimEnd());
    console.log(`\n(the whole profile: node --prof-process ${log})`);
  }
} finally {
  await stopAll();
}
