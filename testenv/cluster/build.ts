/**
 * Builds etcd, kube-apiserver, kube-controller-manager, kwok and kwokctl from Go modules into
 * `<cache>/cluster/bin-<VERSION_KEY>/`, once. Needs only `go` (>= GO_MIN_VERSION) and the Go
 * module proxy; reuses `~/go/pkg/mod` and `~/.cache/go-build` when they exist.
 *
 * k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging modules with local
 * folders), so a small consumer module is generated whose go.mod requires k8s.io/kubernetes and
 * maps every staging module to its published k8s.io/<name> KUBERNETES_STAGING_VERSION. etcd is
 * built from a two-line main calling go.etcd.io/etcd/server/v3/etcdmain, like etcd's own main.
 */
import {
  ETCD_VERSION,
  GO_MIN_VERSION,
  KUBERNETES_STAGING_VERSION,
  KUBERNETES_VERSION,
  KWOK_VERSION,
  VERSION_KEY,
} from "./versions.ts";
import { binDir, buildDir, exists } from "./paths.ts";

export const BINARIES = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kubectl",
  "kwok",
  "kwokctl",
] as const;
export type BinaryName = typeof BINARIES[number];

export function binaryPath(name: BinaryName): string {
  return `${binDir()}/${name}`;
}

const STAMP = ".complete";

/** True when every binary for the pinned versions is already in the cache. */
export async function isBuilt(): Promise<boolean> {
  if (!(await exists(`${binDir()}/${STAMP}`))) return false;
  for (const b of BINARIES) if (!(await exists(binaryPath(b)))) return false;
  return true;
}

function log(msg: string) {
  console.error(`[cluster build] ${msg}`);
}

function fmtElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function goEnv(): Record<string, string> {
  return {
    GOTOOLCHAIN: "local",
    CGO_ENABLED: "0",
    // -trimpath: no local paths baked into the binaries; -mod=mod lets the generated consumer
    // modules fill in go.sum from the module proxy (hashes still checked against the checksum db).
    GOFLAGS: "-buildvcs=false -trimpath -mod=mod",
  };
}

async function run(
  label: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<void> {
  const started = Date.now();
  const child = new Deno.Command("go", {
    args,
    cwd: opts.cwd,
    env: { ...goEnv(), ...opts.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const tail: string[] = [];
  let packages = 0;
  let downloads = 0;
  let last = "";
  const isTty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  const status = () =>
    `[cluster build] ${label}: ${fmtElapsed(Date.now() - started)}, ` +
    `${downloads} modules downloaded, ${packages} packages built${last ? ` (${last})` : ""}`;
  const ticker = setInterval(() => {
    if (isTty) Deno.stderr.writeSync(enc.encode(`\r\x1b[K${status().slice(0, 150)}`));
    else console.error(status());
  }, isTty ? 1000 : 30_000);
  const consume = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith("go: downloading ")) downloads++;
        else if (/^[\w.\-]+(\/[\w.\-~]+)*$/.test(line)) {
          packages++;
          last = line;
        }
        tail.push(line);
        if (tail.length > 60) tail.shift();
      }
    }
    if (buf) tail.push(buf);
  };
  const [status_] = await Promise.all([child.status, consume(child.stdout), consume(child.stderr)]);
  clearInterval(ticker);
  if (isTty) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
  if (!status_.success) {
    console.error(tail.join("\n"));
    throw new Error(`${label}: go ${args.join(" ")} failed (exit ${status_.code})`);
  }
  log(`${label}: done in ${fmtElapsed(Date.now() - started)} (${packages} packages)`);
}

async function goOutput(args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command("go", { args, cwd, env: goEnv(), stderr: "inherit" })
    .output();
  if (!out.success) throw new Error(`go ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout);
}

async function checkGo(): Promise<void> {
  let v: string;
  try {
    v = (await goOutput(["env", "GOVERSION"])).trim();
  } catch {
    throw new Error(`the local control plane needs Go >= ${GO_MIN_VERSION} on PATH`);
  }
  const m = /^go(\d+)\.(\d+)/.exec(v);
  const [wantMaj, wantMin] = GO_MIN_VERSION.split(".").map(Number);
  if (!m || Number(m[1]) < wantMaj || (Number(m[1]) === wantMaj && Number(m[2]) < wantMin)) {
    throw new Error(`found ${v}, need Go >= ${GO_MIN_VERSION}`);
  }
}

/** go.mod of the consumer module for k8s.io/kubernetes, generated from the upstream go.mod. */
export async function kubernetesGoMod(): Promise<string> {
  const info = JSON.parse(
    await goOutput(["mod", "download", "-json", `k8s.io/kubernetes@${KUBERNETES_VERSION}`]),
  );
  const upstream = await Deno.readTextFile(info.GoMod);
  const goLine = /^go (\S+)$/m.exec(upstream)?.[1] ?? "1.24.0";
  const godebug = [...upstream.matchAll(/^godebug .*$/gm)].map((m) => m[0]);
  // Staging modules: replaced by ./staging/src/... upstream and required at v0.0.0.
  const staging = [...upstream.matchAll(/^\s*(k8s\.io\/[\w-]+) => \.\/staging\//gm)].map((m) =>
    m[1]
  ).filter((mod) =>
    new RegExp(`^\\s*${mod.replace(/[./]/g, "\\$&")} v0\\.0\\.0`, "m").test(upstream)
  );
  if (staging.length < 10) throw new Error("could not find the staging modules in k8s go.mod");
  return [
    "// Generated by ktctl testenv/cluster/build.ts: builds k8s.io/kubernetes commands.",
    "module ktctl.local/kubernetes-build",
    "",
    `go ${goLine}`,
    ...godebug,
    "",
    `require k8s.io/kubernetes ${KUBERNETES_VERSION}`,
    "",
    "replace (",
    ...staging.map((m) => `\t${m} => ${m} ${KUBERNETES_STAGING_VERSION}`),
    ")",
    "",
  ].join("\n");
}

async function prepareKubernetesModule(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  log(`resolving k8s.io/kubernetes@${KUBERNETES_VERSION} (downloads the module on first use)`);
  const gomod = await kubernetesGoMod();
  const path = `${dir}/go.mod`;
  // Keep an existing go.mod/go.sum (filled in by an earlier build) when it is the same recipe.
  if (
    !(await exists(`${dir}/.gomod-base`)) ||
    (await Deno.readTextFile(`${dir}/.gomod-base`)) !== gomod
  ) {
    await Deno.writeTextFile(path, gomod);
    await Deno.writeTextFile(`${dir}/.gomod-base`, gomod);
    await Deno.remove(`${dir}/go.sum`).catch(() => {});
  }
}

async function prepareEtcdModule(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/main.go`,
    [
      "// Generated by ktctl testenv/cluster/build.ts: the etcd server, as etcd's own main.go.",
      "package main",
      "",
      'import (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)',
      "",
      "func main() { etcdmain.Main(os.Args) }",
      "",
    ].join("\n"),
  );
  if (!(await exists(`${dir}/go.mod`))) {
    log(`resolving go.etcd.io/etcd/server/v3@${ETCD_VERSION}`);
    const info = JSON.parse(
      await goOutput(["mod", "download", "-json", `go.etcd.io/etcd/server/v3@${ETCD_VERSION}`]),
    );
    const upstream = await Deno.readTextFile(info.GoMod);
    const goLine = /^go (\S+)$/m.exec(upstream)?.[1] ?? "1.24.0";
    await Deno.writeTextFile(
      `${dir}/go.mod`,
      [
        "// Generated by ktctl testenv/cluster/build.ts: builds the etcd server.",
        "module ktctl.local/etcd-build",
        "",
        `go ${goLine}`,
        "",
        `require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}`,
        "",
      ].join("\n"),
    );
  }
}

const K8S_LDFLAGS = (() => {
  const [, major, minor] = /^v(\d+)\.(\d+)/.exec(KUBERNETES_VERSION)!;
  const vars: Record<string, string> = {
    gitVersion: KUBERNETES_VERSION,
    gitMajor: major,
    gitMinor: minor,
    gitTreeState: "clean",
    gitCommit: "0000000000000000000000000000000000000000",
    buildDate: "1970-01-01T00:00:00Z",
  };
  const flags = ["-s", "-w"];
  for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
    for (const [k, v] of Object.entries(vars)) flags.push(`-X ${pkg}.${k}=${v}`);
  }
  return flags.join(" ");
})();

/** Builds whatever is missing. Returns the bin directory. */
export async function build(opts: { force?: boolean } = {}): Promise<string> {
  const bin = binDir();
  if (!opts.force && (await isBuilt())) return bin;
  // Several processes (test files, the demo, a second shell) may ask at once: one builds, the
  // others wait for its lock and then find the binaries built.
  await Deno.mkdir(bin, { recursive: true });
  using lock = await Deno.open(`${bin}.build-lock`, { create: true, write: true });
  await lock.lock(true);
  if (!opts.force && (await isBuilt())) return bin;
  await checkGo();
  const started = Date.now();
  log(`building into ${bin} (${VERSION_KEY}); a cold build takes ~7 min on 2 cores`);
  await Deno.mkdir(bin, { recursive: true });
  await Deno.remove(`${bin}/${STAMP}`).catch(() => {});
  const work = buildDir();
  const p = ["-p", "2", "-v"];

  const need = async (name: BinaryName) => opts.force || !(await exists(binaryPath(name)));

  if (await need("etcd")) {
    const dir = `${work}/etcd`;
    await prepareEtcdModule(dir);
    await run("etcd", ["build", ...p, "-ldflags", "-s -w", "-o", `${bin}/etcd.tmp`, "."], {
      cwd: dir,
    });
    await Deno.rename(`${bin}/etcd.tmp`, `${bin}/etcd`);
  }
  const k8sDir = `${work}/kubernetes`;
  for (const name of ["kube-apiserver", "kube-controller-manager", "kubectl"] as const) {
    if (!(await need(name))) continue;
    await prepareKubernetesModule(k8sDir);
    await run(name, [
      "build",
      ...p,
      "-ldflags",
      K8S_LDFLAGS,
      "-o",
      `${bin}/${name}.tmp`,
      `k8s.io/kubernetes/cmd/${name}`,
    ], { cwd: k8sDir });
    await Deno.rename(`${bin}/${name}.tmp`, `${bin}/${name}`);
  }
  for (const name of ["kwok", "kwokctl"] as const) {
    if (!(await need(name))) continue;
    const gobin = `${work}/gobin`;
    await run(name, [
      "install",
      ...p,
      "-ldflags",
      `-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION.slice(1)}`,
      `sigs.k8s.io/kwok/cmd/${name}@${KWOK_VERSION}`,
    ], { env: { GOBIN: gobin, GOFLAGS: "-buildvcs=false -trimpath" } });
    await Deno.copyFile(`${gobin}/${name}`, `${bin}/${name}.tmp`);
    await Deno.chmod(`${bin}/${name}.tmp`, 0o755);
    await Deno.rename(`${bin}/${name}.tmp`, `${bin}/${name}`);
  }
  await Deno.writeTextFile(
    `${bin}/${STAMP}`,
    JSON.stringify({ versionKey: VERSION_KEY, builtAt: new Date().toISOString() }) + "\n",
  );
  log(`all binaries built in ${fmtElapsed(Date.now() - started)}`);
  return bin;
}

if (import.meta.main) {
  await build({ force: Deno.args.includes("--force") });
}
