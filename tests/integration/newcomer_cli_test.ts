/**
 * What a newcomer sees from the real CLI (`deno run main.ts ...`) without a cluster: flag slips
 * refused in one ERR line with exit 1, a malformed kubeconfig in one line, help with examples,
 * `clean --help` listing only what clean uses, `ktctl status` with nothing running, and a start-up
 * that says where it connects at once and stops on the first Ctrl+C while the API server hangs.
 */
import assert from "node:assert/strict";
import { KTCTL_V8_ARG } from "../../scripts/v8_flags.ts";
import { waitFor } from "../helpers/wait.ts";
import { freePort } from "../../testenv/ktctl_process.ts";

const dec = new TextDecoder();

async function ktctl(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", KTCTL_V8_ARG, "main.ts", ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The one ERR line, checked to be the only line on stderr and nothing on stdout. */
function oneErrorLine(r: { stdout: string; stderr: string }): string {
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0], /^\d{1,2}:\d\d[AP]M ERR \S/);
  return lines[0];
}

const home = await Deno.makeTempDir({ prefix: "ktctl-newcomer-" });
/** Deno's cache as this process sees it, so the child with another HOME shares it. */
const denoDir = Deno.env.get("DENO_DIR") ??
  (Deno.env.get("XDG_CACHE_HOME")
    ? `${Deno.env.get("XDG_CACHE_HOME")}/deno`
    : `${Deno.env.get("HOME")}/.cache/deno`);
const env = { HOME: home, USERPROFILE: home, KUBECONFIG: `${home}/none`, DENO_DIR: denoDir };

Deno.test("newcomer: --clusterCIDR without a prefix length is refused in one line", async () => {
  const r = await ktctl(["connect", "--clusterCIDR", "10.0.0.0"], env);
  assert.equal(r.code, 1);
  assert.match(oneErrorLine(r), /--clusterCIDR: "10\.0\.0\.0" has no prefix length/);
});

Deno.test("newcomer: an empty --dialDirect is refused in one line", async () => {
  const r = await ktctl(["connect", "--dialDirect", ""], env);
  assert.equal(r.code, 1);
  assert.match(oneErrorLine(r), /--dialDirect is empty/);
});

Deno.test("newcomer: a flag error from the parser comes in the same style, in one line", async () => {
  for (
    const args of [["connect", "--method", "socks6"], ["connect", "--nosuchflag"], ["bogus"]]
  ) {
    const r = await ktctl(args, env);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(oneErrorLine(r), /see --help/);
  }
});

Deno.test("newcomer: a malformed kubeconfig is one line", async () => {
  const file = `${home}/broken.yaml`;
  await Deno.writeTextFile(file, "apiVersion: v1\nclusters:\n  - name: a\n   bad: [\n");
  const r = await ktctl(["connect", "-c", file], env);
  assert.equal(r.code, 1);
  assert.match(oneErrorLine(r), /cannot read kubeconfig .*broken\.yaml/);
});

Deno.test("newcomer: help has examples; --setupGlobalProxy says what it does in http mode and off Windows", async () => {
  const main = await ktctl(["--help"], env);
  assert.match(main.stdout, /Examples:\n {2}ktctl connect/);
  assert.match(main.stdout, /status/);
  const connect = await ktctl(["connect", "--help"], env);
  assert.match(connect.stdout, /Examples:/);
  const help = connect.stdout.replace(/\s+/g, " ");
  assert.match(
    help,
    /--setupGlobalProxy .*https_proxy in http mode\).*http mode: the PAC URL.*Elsewhere it changes nothing/,
  );
});

Deno.test("newcomer: clean --help lists only what clean uses", async () => {
  const r = await ktctl(["clean", "--help"], env);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--dryRun/);
  for (const flag of ["--namespace", "--kubeconfig", "--context"]) {
    assert.doesNotMatch(r.stdout, new RegExp(flag), flag);
  }
});

Deno.test("status: nothing running says so and exits 1; --json is an empty list", async () => {
  const r = await ktctl(["status"], env);
  assert.equal(r.code, 1);
  assert.equal(r.stdout.trim(), "No ktctl is running for this user");
  const j = await ktctl(["status", "--json"], env);
  assert.equal(j.code, 1);
  assert.deepEqual(JSON.parse(j.stdout), {
    schema: "ktctl-status-list",
    version: 1,
    processes: [],
  });
});

Deno.test("newcomer: start-up names the cluster at once, and the first Ctrl+C stops it while the API server hangs", async () => {
  // An API server that accepts and never answers.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) held.push(c);
  })().catch(() => {});
  const kubeconfig = `${home}/silent.yaml`;
  await Deno.writeTextFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: silent, cluster: {server: "https://127.0.0.1:${silent.addr.port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: hang, context: {cluster: silent, user: u, namespace: default}}]
current-context: hang
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      KTCTL_V8_ARG,
      "main.ts",
      "connect",
      "-c",
      kubeconfig,
      "--proxyPort",
      String(freePort()),
      "--dialDirect",
      "127.0.0.0/8",
    ],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = (s: ReadableStream<Uint8Array>) =>
    s.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void (text += chunk) }),
    );
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  try {
    await waitFor(
      () => text.includes("Connecting to hang at https://127.0.0.1:"),
      20_000,
      "the first line",
    );
    const sent = Date.now();
    child.kill("SIGINT");
    const status = await child.status;
    await pumps;
    assert.ok(Date.now() - sent < 5_000, `stopped after ${Date.now() - sent} ms:\n${text}`);
    assert.equal(status.code, 130, text);
    assert.match(text, /Stopped before the proxy was ready/);
    assert.doesNotMatch(text, /clean/, "nothing was changed: no word of ktctl clean");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    silent.close();
    for (const c of held) c.close();
    await accepting;
  }
});
