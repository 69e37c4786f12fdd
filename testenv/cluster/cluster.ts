/**
 * Brings the local control plane up and down: kwokctl (binary runtime) with the locally built
 * etcd, kube-apiserver, kube-controller-manager and kwok-controller, the loopback backends and
 * the fixture. See mod.ts for the API other scripts use and ../cluster.ts for the CLI.
 */
import { binaryPath, build, isBuilt } from "./build.ts";
import {
  backends,
  baseManifests,
  CLUSTER_NAME,
  expectedEndpoints,
  fixturePods,
  KWOK_FALLBACK_POD_CIDR,
  NAMESPACES,
  REFUSER,
  SERVICE_CIDR,
  TLS,
  workloadManifests,
} from "./fixture.ts";
import { clusterCacheDir, exists, infoPath, runDir } from "./paths.ts";
import { portForwardAnswers } from "./pf_probe.ts";
import { KUBERNETES_VERSION, VERSION_KEY } from "./versions.ts";

export interface ClusterInfo {
  /** kubeconfig files (absolute paths). */
  kubeconfigs: { admin: string; token: string; limited: string };
  /** API server URL, https://127.0.0.1:<port>. */
  server: string;
  /** Run directory (kubeconfigs, logs, kwok work dir). */
  runDir: string;
  /** CA bundle of the API server (PEM file). */
  caFile: string;
  /** Bearer tokens behind token.kubeconfig / limited.kubeconfig. */
  tokens: { reader: string; limited: string };
  clusterName: string;
  versionKey: string;
  /** When `up` finished (ISO). */
  upAt: string;
}

// ---------------------------------------------------------------------------------------------
// Paths inside the run dir

const kwokWorkdir = () => `${runDir()}/kwok`;
const clusterDir = () => `${kwokWorkdir()}/clusters/${CLUSTER_NAME}`;
const backendsPidFile = () => `${runDir()}/backends.pid`;
const backendsLog = () => `${runDir()}/backends.log`;
/** The code the running backends were started from, so a changed one is restarted. */
const backendsCodeFile = () => `${runDir()}/backends.code`;

/** A digest of the backends' own code (the script and the local modules it serves from). */
async function backendsCode(): Promise<string> {
  const files = ["./backends.ts", "./fixture.ts", "../bulk_stream.ts"];
  const texts = await Promise.all(
    files.map((f) => Deno.readTextFile(new URL(f, import.meta.url))),
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(texts.join("\0")));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The fixture's TLS files: a CA of its own (`ca.crt`, what clients trust) and the `tls` pod's
 * server certificate and key, which the https backend serves.
 */
export function tlsFiles(): { dir: string; caFile: string; cert: string; key: string } {
  const dir = `${runDir()}/tls`;
  return { dir, caFile: `${dir}/ca.crt`, cert: `${dir}/server.crt`, key: `${dir}/server.key` };
}
const kubeconfigPath = (name: "admin" | "token" | "limited") => `${runDir()}/${name}.kubeconfig`;

function log(msg: string) {
  console.error(`[cluster] ${msg}`);
}

function since(t: number): string {
  return `${((Date.now() - t) / 1000).toFixed(1)}s`;
}

// ---------------------------------------------------------------------------------------------
// Process helpers

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string; check?: boolean } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const res = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if (opts.check !== false && res.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${res.code}):\n${res.stderr || res.stdout}`,
    );
  }
  return res;
}

function kwokctl(args: string[], check = true): Promise<RunResult> {
  return exec(binaryPath("kwokctl"), ["--name", CLUSTER_NAME, ...args], {
    env: { KWOK_WORKDIR: kwokWorkdir() },
    check,
  });
}

/** The kubectl built with the control plane (same version as the API server). */
export function kubectlBinary(): string {
  return binaryPath("kubectl");
}

/** Runs kubectl (kubectlBinary()) with the admin kubeconfig. */
export function kubectl(args: string[], opts: { stdin?: string; check?: boolean } = {}) {
  return exec(kubectlBinary(), ["--kubeconfig", kubeconfigPath("admin"), ...args], opts);
}

function pidAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // field 3 is the state; Z = zombie (exited, not reaped) counts as dead
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const n = Number((await Deno.readTextFile(file)).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((s) => s !== "");
  } catch {
    return [];
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
async function killPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!pidAlive(pid)) return;
  try {
    Deno.kill(pid, "SIGTERM");
  } catch { /* gone */ }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await sleep(100);
  if (pidAlive(pid)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
    while (pidAlive(pid)) await sleep(50);
  }
}

/** An error `waitFor` does not retry. */
class FatalError extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      if (e instanceof FatalError) throw e;
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs / 1000}s waiting for ${what}` +
          (lastErr ? `: ${lastErr instanceof Error ? lastErr.message : lastErr}` : ""),
      );
    }
    await sleep(intervalMs);
  }
}

/** Processes started from our binaries or run dir (the only ones `down` may kill). */
function ourProcesses(): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  const prefixes = [`${clusterCacheDir()}/`];
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    const argv = cmdline(pid);
    if (argv.length === 0) continue;
    if (prefixes.some((p) => argv[0].startsWith(p))) out.push({ pid, argv });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Lock: one up/down at a time (tests may call ensureCluster() from several processes).

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(clusterCacheDir(), { recursive: true });
  const f = await Deno.open(`${clusterCacheDir()}/cluster.lock`, {
    create: true,
    write: true,
  });
  try {
    await f.lock(true);
    return await fn();
  } finally {
    f.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Health

/** True when the API server answers /readyz with the admin kubeconfig. */
export async function apiServerReady(): Promise<boolean> {
  if (!(await exists(kubeconfigPath("admin"))) || !(await exists(kubectlBinary()))) return false;
  const r = await exec(kubectlBinary(), [
    "--kubeconfig",
    kubeconfigPath("admin"),
    "--request-timeout=3s",
    "get",
    "--raw",
    "/readyz",
  ], { check: false });
  return r.code === 0 && r.stdout.trim() === "ok";
}

async function backendsPid(): Promise<number | undefined> {
  const pid = await readPid(backendsPidFile());
  return pid && pidAlive(pid) ? pid : undefined;
}

/** The fixture backends' loopback ports that nothing listens on (an older backends process). */
async function missingBackendPorts(): Promise<number[]> {
  const missing: number[] = [];
  for (const { loopbackPort: port } of backends()) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    } catch {
      missing.push(port);
    }
  }
  return missing;
}

const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kwok-controller"];

async function componentPids(): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  for (const c of COMPONENTS) {
    const pid = await readPid(`${clusterDir()}/pids/${c}.pid`);
    out[c] = pid && pidAlive(pid) ? pid : undefined;
  }
  return out;
}

async function tail(file: string, lines = 15): Promise<string> {
  try {
    return (await Deno.readTextFile(file)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Throws (not retried by waitFor) when a control-plane process has died. */
async function assertComponentsAlive(): Promise<void> {
  const pids = await componentPids();
  const dead = Object.entries(pids).filter(([, p]) => p === undefined).map(([c]) => c);
  if (dead.length === 0) return;
  const logs = await Promise.all(
    dead.map(async (c) =>
      `--- ${clusterDir()}/logs/${c}.log\n${await tail(`${clusterDir()}/logs/${c}.log`)}`
    ),
  );
  throw new FatalError(`not running: ${dead.join(", ")}\n${logs.join("\n")}`);
}

export interface ClusterStatus {
  built: boolean;
  components: Record<string, number | undefined>;
  backends: number | undefined;
  apiServerReady: boolean;
  info: boolean;
  up: boolean;
}

export async function status(): Promise<ClusterStatus> {
  const components = await componentPids();
  const s = {
    built: await isBuilt(),
    components,
    backends: await backendsPid(),
    apiServerReady: await apiServerReady(),
    info: await exists(infoPath()),
  };
  // Backends started by an older fixture lack the newer servers: not up until restarted.
  const up = s.apiServerReady && s.info && s.backends !== undefined &&
    (await missingBackendPorts()).length === 0 &&
    Object.values(components).every((p) => p !== undefined);
  return { ...s, up };
}

// ---------------------------------------------------------------------------------------------
// Backends

async function startBackends(): Promise<void> {
  const code = await backendsCode();
  if (await backendsPid()) {
    const missing = await missingBackendPorts();
    const running = await Deno.readTextFile(backendsCodeFile()).catch(() => "");
    if (missing.length === 0 && running === code) return;
    log(
      missing.length > 0
        ? `the running backends lack ports ${
          missing.join(", ")
        } (an older fixture): restarting them`
        : "the running backends were started from other code: restarting them",
    );
    await stopBackends();
  }
  await Deno.mkdir(runDir(), { recursive: true });
  await Deno.writeTextFile(backendsCodeFile(), code);
  await ensureTlsFiles();
  const script = new URL("./backends.ts", import.meta.url).pathname;
  const logFile = await Deno.open(backendsLog(), { create: true, append: true });
  logFile.close();
  // Detached (own process group), output into the run dir; `exec` keeps child.pid the server's.
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'exec "$@" >>"$KTCTL_BACKENDS_LOG" 2>&1 </dev/null',
      "sh",
      Deno.execPath(),
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      script,
      "--pid-file",
      backendsPidFile(),
      "--tls-dir",
      tlsFiles().dir,
    ],
    env: { KTCTL_BACKENDS_LOG: backendsLog() },
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  const ports = backends().map((b) => b.loopbackPort);
  await waitFor(
    "the backend servers",
    async () => {
      const st = await Promise.race([child.status, sleep(0).then(() => undefined)]);
      if (st && !st.success) {
        throw new Error(`backends exited (${st.code}); see ${backendsLog()}`);
      }
      for (const port of ports) {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        c.close();
      }
      return await backendsPid();
    },
    20_000,
    100,
  );
}

/**
 * Makes the fixture CA and the `tls` server certificate with `openssl` once (kept in the run dir,
 * valid for ten years): a CA and a leaf, since some clients (rustls in Deno) refuse a
 * self-signed leaf used as its own trust anchor.
 */
export async function ensureTlsFiles(): Promise<void> {
  const f = tlsFiles();
  if ((await exists(f.caFile)) && (await exists(f.cert)) && (await exists(f.key))) return;
  await Deno.mkdir(f.dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await exec("openssl", [
    "req",
    "-x509",
    ...ec,
    "-days",
    "3650",
    "-subj",
    "/CN=ktctl fixture CA",
    "-keyout",
    `${f.dir}/ca.key`,
    "-out",
    f.caFile,
  ]);
  await exec("openssl", [
    "req",
    ...ec,
    "-subj",
    `/CN=${TLS.certNames[1]}`,
    "-keyout",
    f.key,
    "-out",
    `${f.dir}/server.csr`,
  ]);
  const ext = `${f.dir}/server.ext`;
  await Deno.writeTextFile(
    ext,
    `subjectAltName=${TLS.certNames.map((n) => `DNS:${n}`).join(",")}\n` +
      "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
      "extendedKeyUsage=serverAuth\n",
  );
  await exec("openssl", [
    "x509",
    "-req",
    "-in",
    `${f.dir}/server.csr`,
    "-CA",
    f.caFile,
    "-CAkey",
    `${f.dir}/ca.key`,
    "-CAcreateserial",
    "-days",
    "3650",
    "-extfile",
    ext,
    "-out",
    f.cert,
  ]);
}

async function stopBackends(): Promise<void> {
  const pid = await readPid(backendsPidFile());
  if (pid) await killPid(pid, 5_000);
  await Deno.remove(backendsPidFile()).catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// kwokctl cluster

function kwokctlConfig(): string {
  const extra = (kv: Record<string, string>) =>
    Object.entries(kv).map(([key, value]) => ({ key, value }));
  const ctl = {
    apiVersion: "config.kwok.x-k8s.io/v1alpha1",
    kind: "KwokctlConfiguration",
    options: {
      runtime: "binary",
      bindAddress: "127.0.0.1",
      etcdBinary: binaryPath("etcd"),
      kubeApiserverBinary: binaryPath("kube-apiserver"),
      kubeControllerManagerBinary: binaryPath("kube-controller-manager"),
      kwokControllerBinary: binaryPath("kwok"),
      kubectlBinary: kubectlBinary(),
      disable: ["kube-scheduler"],
      enableCRDs: ["PortForward", "ClusterPortForward"],
      kubeAuthorization: true,
      kubeAdmission: true,
      securePort: true,
      quietPull: true,
      cacheDir: `${kwokWorkdir()}/cache`,
    },
    componentsPatches: [
      {
        name: "kube-apiserver",
        extraArgs: extra({
          "service-cluster-ip-range": SERVICE_CIDR,
          // Loopback: needed on machines without a default route, and keeps the `kubernetes`
          // Service from pointing at a non-loopback address. Loopback is not a valid Endpoints
          // address, so the apiserver's own endpoint reconciler is switched off.
          "advertise-address": "127.0.0.1",
          "endpoint-reconciler-type": "none",
          // On SIGTERM, drain and stop within ~2s instead of waiting up to 60s for watches to
          // end (restartApiServer).
          "shutdown-send-retry-after": "true",
        }),
      },
      {
        name: "kube-controller-manager",
        extraArgs: extra({
          "service-cluster-ip-range": SERVICE_CIDR,
          // A single instance: without this it exits ("leaderelection lost") when the API
          // server is down for more than ~10s (restartApiServer) and nothing restarts it.
          "leader-elect": "false",
        }),
      },
      // Pod IPs: a flag, not a KwokConfiguration document (a partial one in the kwokctl config
      // replaces kwok's defaults: the controller then exits on "node leases parallelism").
      { name: "kwok-controller", extraArgs: extra({ cidr: KWOK_FALLBACK_POD_CIDR }) },
    ],
  };
  // kwokctl reads YAML; a JSON document is valid YAML.
  return `${JSON.stringify(ctl, null, 2)}\n`;
}

async function createCluster(): Promise<void> {
  await Deno.mkdir(kwokWorkdir(), { recursive: true });
  const cfg = `${runDir()}/kwokctl-config.yaml`;
  await Deno.writeTextFile(cfg, kwokctlConfig());
  const t = Date.now();
  const r = await kwokctl([
    "--config",
    cfg,
    "create",
    "cluster",
    "--runtime",
    "binary",
    "--kubeconfig",
    "",
    "--timeout",
    "5m",
  ], false);
  if (r.code !== 0) {
    throw new Error(
      `kwokctl create cluster failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}\n` +
        `logs: ${clusterDir()}/logs/`,
    );
  }
  log(`kwokctl create cluster: ${since(t)}`);
  // Self-contained admin kubeconfig (certificates embedded).
  const flat = await exec(kubectlBinary(), [
    "--kubeconfig",
    `${clusterDir()}/kubeconfig.yaml`,
    "config",
    "view",
    "--raw",
    "--flatten",
  ]);
  await Deno.writeTextFile(kubeconfigPath("admin"), flat.stdout, { mode: 0o600 });
}

async function applyFixture(): Promise<void> {
  const t = Date.now();
  const list = (items: unknown[]) => JSON.stringify({ apiVersion: "v1", kind: "List", items });
  await waitFor("the PortForward CRD", async () => {
    const r = await kubectl(["get", "crd", "portforwards.kwok.x-k8s.io"], { check: false });
    return r.code === 0;
  }, 60_000);
  await kubectl(["apply", "-f", "-"], { stdin: list(baseManifests()) });
  // ServiceAccount admission needs each namespace's `default` account (made by the
  // controller-manager) before pods can be created there.
  for (const ns of Object.values(NAMESPACES)) {
    await waitFor(
      `serviceaccount ${ns}/default`,
      async () =>
        (await kubectl(["get", "-n", ns, "serviceaccount", "default"], { check: false }))
          .code === 0,
      60_000,
    );
  }
  await kubectl(["apply", "-f", "-"], { stdin: list(workloadManifests()) });
  log(`fixture applied: ${since(t)}`);
}

async function waitFixtureReady(timeoutMs = 120_000): Promise<void> {
  const t = Date.now();
  const pods = fixturePods();
  await waitFor(
    "fixture pods Ready",
    async () => {
      await assertComponentsAlive();
      const r = await kubectl(["get", "pods", "-A", "-l", "ktctl.dev/fixture=true", "-o", "json"]);
      const items = JSON.parse(r.stdout).items as {
        metadata: { namespace: string; name: string; deletionTimestamp?: string };
        status?: { conditions?: { type: string; status: string }[]; podIP?: string };
      }[];
      const ready = new Set(
        items.filter((p) =>
          !p.metadata.deletionTimestamp && p.status?.podIP &&
          p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
        ).map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
      );
      return pods.every((p) => ready.has(p));
    },
    timeoutMs,
    300,
  );
  await waitFor(
    "EndpointSlices",
    async () => {
      const r = await kubectl(["get", "endpointslices", "-A", "-o", "json"]);
      const items = JSON.parse(r.stdout).items as {
        metadata: { namespace: string; labels?: Record<string, string> };
        endpoints?: { conditions?: { ready?: boolean } }[];
      }[];
      return expectedEndpoints().every((e) => {
        const slices = items.filter((s) =>
          s.metadata.namespace === e.namespace &&
          s.metadata.labels?.["kubernetes.io/service-name"] === e.service
        );
        const ready = slices.flatMap((s) =>
          s.endpoints ?? []
        ).filter((ep) => ep.conditions?.ready !== false)
          .length;
        return slices.length > 0 && ready === e.ready;
      });
    },
    timeoutMs,
    300,
  );
  await waitPortForwardsServed(timeoutMs);
  log(`fixture ready (pods Ready, EndpointSlices complete, port-forwards answer): ${since(t)}`);
}

/** Waits until a real `kubectl port-forward` gets an answer from every fixture pod. */
async function waitPortForwardsServed(timeoutMs: number): Promise<void> {
  // One port per pod is enough: kwok serves a pod's forwards all at once.
  const pending = new Map(backends().map((b) => [`${b.namespace}/${b.pod}`, b]));
  await waitFor(
    "kwok to serve the fixture's port-forwards",
    async () => {
      await Promise.all(
        [...pending].map(async ([key, b]) => {
          if (await portForwardAnswers(kubectlBinary(), kubeconfigPath("admin"), b)) {
            pending.delete(key);
          }
        }),
      );
      return pending.size === 0;
    },
    timeoutMs,
    300,
  );
}

async function writeKubeconfigs(): Promise<ClusterInfo> {
  const admin = JSON.parse(
    (await exec(kubectlBinary(), [
      "--kubeconfig",
      kubeconfigPath("admin"),
      "config",
      "view",
      "--raw",
      "-o",
      "json",
    ])).stdout,
  );
  const cluster = admin.clusters[0].cluster as {
    server: string;
    "certificate-authority-data": string;
  };
  const caFile = `${runDir()}/ca.crt`;
  await Deno.writeFile(caFile, decodeBase64(cluster["certificate-authority-data"]));
  const token = async (ns: string, name: string) =>
    (await kubectl(["create", "token", "-n", ns, name, "--duration=24h"])).stdout.trim();
  const readerToken = await token(NAMESPACES.demo, "reader");
  const limitedToken = await token(NAMESPACES.demo, "limited");
  const kc = (user: string, tok: string, namespace?: string) =>
    JSON.stringify(
      {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: CLUSTER_NAME, cluster }],
        users: [{ name: user, user: { token: tok } }],
        contexts: [{
          name: `${CLUSTER_NAME}-${user}`,
          context: { cluster: CLUSTER_NAME, user, ...(namespace ? { namespace } : {}) },
        }],
        "current-context": `${CLUSTER_NAME}-${user}`,
        preferences: {},
      },
      null,
      2,
    ) + "\n";
  await Deno.writeTextFile(kubeconfigPath("token"), kc("reader", readerToken), { mode: 0o600 });
  await Deno.writeTextFile(
    kubeconfigPath("limited"),
    kc("limited", limitedToken, NAMESPACES.demo),
    { mode: 0o600 },
  );
  return {
    kubeconfigs: {
      admin: kubeconfigPath("admin"),
      token: kubeconfigPath("token"),
      limited: kubeconfigPath("limited"),
    },
    server: cluster.server,
    runDir: runDir(),
    caFile,
    tokens: { reader: readerToken, limited: limitedToken },
    clusterName: CLUSTER_NAME,
    versionKey: VERSION_KEY,
    upAt: new Date().toISOString(),
  };
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function checkRefusedPort(): Promise<void> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: REFUSER.refusedLoopbackPort });
    c.close();
    log(
      `WARNING: something listens on 127.0.0.1:${REFUSER.refusedLoopbackPort}; ` +
        `the refuser pod will not refuse`,
    );
  } catch { /* refused: as intended */ }
}

// ---------------------------------------------------------------------------------------------
// Public operations

export async function readInfo(): Promise<ClusterInfo | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(infoPath())) as ClusterInfo;
  } catch {
    return undefined;
  }
}

/**
 * Brings everything up (building first if needed). When the cluster is already up, it only
 * restores the fixture (re-applies it, recreating deleted pods) and refreshes the tokens; if the
 * fixture does not settle within 30 s then, the cluster is recreated.
 */
export async function up(opts: { quiet?: boolean } = {}): Promise<ClusterInfo> {
  await build();
  return await withLock(async () => {
    const t = Date.now();
    const st = await status();
    let restored = false;
    if (st.apiServerReady && Object.values(st.components).every((p) => p !== undefined)) {
      log("cluster already up: restoring the fixture");
      await startBackends();
      await applyFixture();
      try {
        await waitFixtureReady(30_000);
        restored = true;
      } catch (e) {
        // Seen after kwok ran 50,000 benchmark pods: a node's lease lapsed, the node controller
        // marked its pods not Ready, and nothing marks them Ready again. A new cluster is quicker
        // than finding every such state.
        log(
          `the fixture did not settle on the running cluster (${(e as Error).message}): recreating`,
        );
      }
    }
    if (!restored) {
      if (await exists(clusterDir()) || st.backends || ourProcesses().length > 0) {
        log("found a stale or partial cluster: taking it down first");
        await downUnlocked();
      }
      await checkRefusedPort();
      await startBackends();
      await createCluster();
      await waitFor("kube-apiserver /readyz", async () => {
        await assertComponentsAlive();
        return await apiServerReady();
      }, 120_000);
      await applyFixture();
      await waitFixtureReady();
    }
    const info = await writeKubeconfigs();
    await Deno.writeTextFile(infoPath(), JSON.stringify(info, null, 2) + "\n");
    log(`up in ${since(t)}`);
    if (!opts.quiet) printHint(info);
    return info;
  });
}

export function printHint(info: ClusterInfo): void {
  console.log(`cluster up: ${info.server}`);
  console.log(`kubeconfigs: admin   ${info.kubeconfigs.admin}`);
  console.log(`             token   ${info.kubeconfigs.token}  (serviceaccount demo/reader)`);
  console.log(`             limited ${info.kubeconfigs.limited}  (serviceaccount demo/limited)`);
  console.log(`try: kubectl --kubeconfig ${info.kubeconfigs.admin} get pods -A`);
  console.log(`     (kubectl ${KUBERNETES_VERSION} is at ${kubectlBinary()})`);
}

async function downUnlocked(): Promise<boolean> {
  let did = false;
  if (await exists(clusterDir())) {
    did = true;
    if (await exists(binaryPath("kwokctl"))) {
      // --kubeconfig: a file of ours (kwokctl would edit ~/.kube/config; "" is refused here).
      const r = await kwokctl(
        ["delete", "cluster", "--kubeconfig", `${runDir()}/kwokctl-contexts.kubeconfig`],
        false,
      );
      if (r.code !== 0) log(`kwokctl delete cluster failed (continuing): ${r.stderr.trim()}`);
    }
    // kwokctl kills through its pid files; make sure nothing we started survives.
    for (const c of COMPONENTS) {
      const pid = await readPid(`${clusterDir()}/pids/${c}.pid`);
      if (pid && pidAlive(pid) && cmdline(pid)[0]?.startsWith(clusterCacheDir())) {
        await killPid(pid);
      }
    }
  }
  if (await backendsPid()) did = true;
  await stopBackends();
  for (const p of ourProcesses()) {
    did = true;
    log(`killing leftover ${p.pid}: ${p.argv.slice(0, 2).join(" ")}`);
    await killPid(p.pid);
  }
  if (await exists(`${clusterDir()}/logs`)) {
    // Keep the last cluster's logs for post-mortems (CI uploads, failed tests).
    await Deno.remove(`${runDir()}/last-logs`, { recursive: true }).catch(() => {});
    await Deno.rename(`${clusterDir()}/logs`, `${runDir()}/last-logs`).catch(() => {});
  }
  await Deno.remove(clusterDir(), { recursive: true }).catch(() => {});
  for (
    const f of [
      infoPath(),
      kubeconfigPath("admin"),
      kubeconfigPath("token"),
      kubeconfigPath("limited"),
      `${runDir()}/ca.crt`,
    ]
  ) {
    await Deno.remove(f).catch(() => {});
  }
  return did;
}

/** Takes everything down; a no-op when nothing runs. Returns whether anything was running. */
export async function down(): Promise<boolean> {
  return await withLock(async () => {
    const t = Date.now();
    const did = await downUnlocked();
    log(did ? `down in ${since(t)}` : "already down");
    return did;
  });
}

/** How a restarted component is stopped, and for how long it stays down. */
export interface RestartOptions {
  downtimeMs?: number;
  timeoutMs?: number;
  /** SIGTERM (graceful) or SIGKILL (a crash). */
  signal?: "SIGTERM" | "SIGKILL";
}

interface ComponentRestart extends RestartOptions {
  /** Runs while the component is stopped. */
  beforeStart?: () => Promise<void>;
}

/**
 * Stops kube-apiserver and starts it again with the same command line, then waits until
 * /readyz is ok. Everything else keeps running.
 */
export async function restartApiServer(opts: RestartOptions = {}): Promise<void> {
  await restartComponent("kube-apiserver", opts, async () => {
    await waitFor(
      "kube-apiserver /readyz after restart",
      apiServerReady,
      opts.timeoutMs ?? 120_000,
    );
  });
}

/**
 * Stops kwok-controller (the kubelet of every fake node) and starts it again, then waits until
 * the fixture's port-forwards answer: every port-forward session through the old process dies,
 * as when a kubelet restarts.
 */
export async function restartKwok(opts: RestartOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const started = Date.now();
  await restartComponent(
    "kwok-controller",
    { ...opts, beforeStart: dropNodeLeases },
    async () => {
      await waitPortForwardsServed(timeoutMs);
      await waitNodeLeasesRenewed(started, timeoutMs);
    },
  );
}

/**
 * Deletes the nodes' leases while kwok is stopped. A real kubelet renews its node's lease as
 * the same holder after a restart; a new kwok process is a new holder (hostname plus a fresh
 * uuid) and waits out the old holder's lease (200 s here) before it takes over. That is the
 * node controller's grace period too, so the nodes would go NotReady, their pods lose Ready,
 * and every later test would find "no ready endpoints". With no lease the new kwok creates
 * one at once, as the kubelet would.
 */
async function dropNodeLeases(): Promise<void> {
  await kubectl(["delete", "lease", "-n", "kube-node-lease", "--all", "--wait=false"]);
}

/** Waits until every node's lease has been renewed since `since` (epoch ms). */
async function waitNodeLeasesRenewed(since: number, timeoutMs: number): Promise<void> {
  await waitFor(
    "kwok to renew every node's lease",
    async () => {
      const nodes = JSON.parse((await kubectl(["get", "nodes", "-o", "json"])).stdout) as {
        items: { metadata: { name: string } }[];
      };
      const leases = JSON.parse(
        (await kubectl(["get", "lease", "-n", "kube-node-lease", "-o", "json"])).stdout,
      ) as { items: { metadata: { name: string }; spec?: { renewTime?: string } }[] };
      const renewed = new Set(
        leases.items.filter((l) => Date.parse(l.spec?.renewTime ?? "") >= since - 1_000)
          .map((l) => l.metadata.name),
      );
      return nodes.items.every((n) => renewed.has(n.metadata.name));
    },
    timeoutMs,
    300,
  );
}

/**
 * Stops one control-plane process and starts it again with the command line, working directory
 * and log it had (read from /proc before stopping it), then `awaitReady()`.
 */
async function restartComponent(
  component: string,
  opts: ComponentRestart,
  awaitReady: () => Promise<void>,
): Promise<void> {
  await withLock(async () => {
    const pidFile = `${clusterDir()}/pids/${component}.pid`;
    const pid = await readPid(pidFile);
    if (!pid || !pidAlive(pid)) throw new Error(`${component} is not running`);
    const argv = cmdline(pid);
    const cwd = Deno.realPathSync(`/proc/${pid}/cwd`);
    if (!argv[0]?.startsWith(clusterCacheDir())) {
      throw new Error(`pid ${pid} does not look like our ${component}: ${argv[0]}`);
    }
    const t = Date.now();
    if (opts.signal === "SIGKILL") {
      Deno.kill(pid, "SIGKILL");
      while (pidAlive(pid)) await sleep(50);
    } else {
      await killPid(pid, 30_000);
    }
    log(`${component} (pid ${pid}) stopped with ${opts.signal ?? "SIGTERM"} in ${since(t)}`);
    if (opts.downtimeMs) await sleep(opts.downtimeMs);
    await opts.beforeStart?.();
    const child = new Deno.Command("sh", {
      args: ["-c", 'exec "$@" >>"$KTCTL_LOG" 2>&1 </dev/null', "sh", ...argv],
      cwd,
      env: { KTCTL_LOG: `${clusterDir()}/logs/${component}.log` },
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    child.unref();
    await Deno.writeTextFile(pidFile, String(child.pid));
    await awaitReady();
    log(`${component} restarted (pid ${child.pid}) in ${since(t)}`);
  });
}

/** Deletes a pod (waits until it is gone). `up`/`ensureCluster()` recreates fixture pods. */
export async function deletePod(
  namespace: string,
  name: string,
  opts: { wait?: boolean; gracePeriodSeconds?: number } = {},
): Promise<void> {
  await kubectl([
    "delete",
    "pod",
    "-n",
    namespace,
    name,
    "--ignore-not-found",
    `--wait=${opts.wait ?? true}`,
    ...(opts.gracePeriodSeconds !== undefined ? [`--grace-period=${opts.gracePeriodSeconds}`] : []),
  ]);
}
