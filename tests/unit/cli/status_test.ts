/**
 * `ktctl status` over real state files and real listeners: none, one and two running (each
 * serving `/api/status` through the real HTTP front), a crashed one that left settings applied
 * (its pid gone), `--json` parsed; and the status document checked by `parseStatus`.
 */
import assert from "node:assert/strict";
import { defaultDeps } from "../../../src/sysproxy/default_deps.ts";
import { claimConnect } from "../../../src/sysproxy/claim.ts";
import { formatState } from "../../../src/sysproxy/state_file.ts";
import { fetchOwnStatus, runStatus, type StatusDeps } from "../../../src/cli/status.ts";
import { buildStatus, parseStatus } from "../../../src/cli/status_model.ts";
import { Activity } from "../../../src/front/activity.ts";
import { ProxyListener } from "../../../src/front/listener.ts";
import { DialError } from "../../../src/net/upstream.ts";

function statusJson(port: number, mode: string, failures: number): string {
  const activity = new Activity();
  for (let i = 0; i < failures; i++) {
    activity.failed({
      id: i,
      client: "127.0.0.1:1",
      program: null,
      destination: "web.demo:81",
      kind: "no-port",
      sentence: "service demo/web has no port 81",
    });
  }
  return JSON.stringify(buildStatus({
    now: Date.now(),
    version: "test",
    pid: Deno.pid,
    command: "connect",
    session: {
      context: "kind-test",
      server: "https://127.0.0.1:6443",
      namespace: "demo",
      mode,
      address: `127.0.0.1:${port}`,
      proxyUrl: `http://127.0.0.1:${port}`,
      pacUrl: `http://127.0.0.1:${port}/proxy.pac`,
      startedAt: Date.now() - 65_000,
      globalSettings: { applied: false, values: [] },
      upstreamProxy: null,
      scope: "cluster",
      namespaces: ["default", "demo"],
      api: { roundTripMs: 3, checkedAt: Date.now(), watches: [] },
    },
    activity: activity.snapshot(),
    tunnels: { mode: "multiplexed", fellBack: null, pods: [] },
    forwards: [],
  }));
}

/** A running "connect": its claim (state file) and a listener that serves its status. */
async function fakeConnect(home: string, mode: string, failures: number) {
  const server = ProxyListener.listen({ hostname: "127.0.0.1", port: 0 });
  const port = server.addr.port;
  const claim = await claimConnect({ address: "127.0.0.1", port }, { ...defaultDeps(), home });
  server.serve({
    dialer: { dial: () => Promise.reject(new DialError("failed", "none")) },
    pages: { pac: () => "", about: () => "", status: () => statusJson(port, mode, failures) },
  });
  return {
    port,
    async stop() {
      await server.close();
      await claim.release();
    },
  };
}

async function run(home: string, json = false) {
  const lines: string[] = [];
  const deps: StatusDeps = { sys: { ...defaultDeps(), home }, fetchStatus: fetchOwnStatus };
  const code = await runStatus({ json }, deps, (l) => lines.push(l));
  return { code, text: lines.join("\n") };
}

Deno.test("status: none, one and two running, then a crashed one with settings applied", async () => {
  const home = await Deno.makeTempDir({ prefix: "ktctl-status-" });
  assert.deepEqual(await run(home), { code: 1, text: "No ktctl is running for this user" });

  const a = await fakeConnect(home, "http", 2);
  try {
    const one = await run(home);
    assert.equal(one.code, 0);
    assert.match(
      one.text,
      new RegExp(
        `^ktctl connect on 127\\.0\\.0\\.1:${a.port} \\(pid ${Deno.pid}\\): http mode, ` +
          `context kind-test at https://127\\.0\\.0\\.1:6443, up 1 min 5 s\\n` +
          `  last minute: 0 connections, 2 failures; 0 open now\\n` +
          `  global settings: not applied; live view: http://127\\.0\\.0\\.1:${a.port}/$`,
      ),
    );
    const b = await fakeConnect(home, "socks5", 0);
    try {
      const two = await run(home, true);
      assert.equal(two.code, 0);
      const list = JSON.parse(two.text);
      assert.equal(list.schema, "ktctl-status-list");
      assert.deepEqual(
        list.processes.map((p: { address: string; state: string; status: { mode: string } }) => [
          p.address,
          p.state,
          p.status.mode,
        ]).sort(),
        [[`127.0.0.1:${a.port}`, "running", "http"], [`127.0.0.1:${b.port}`, "running", "socks5"]]
          .sort(),
      );
    } finally {
      await b.stop();
    }
  } finally {
    await a.stop();
  }
  assert.equal((await run(home)).code, 1);

  // A connect killed with settings applied: its pid is gone, its state file remains.
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  await Deno.writeTextFile(
    `${home}/.ktctl/connect-127.0.0.1-2999.json`,
    formatState({
      format: "ktctl-connect-state",
      version: 1,
      pid: gone.pid,
      processStart: null,
      address: "127.0.0.1",
      port: 2999,
      method: "socks",
      createdAt: new Date().toISOString(),
      values: [{
        key: "HKCU\\Environment",
        name: "http_proxy",
        previous: null,
        set: { type: "REG_SZ", data: "socks4a://127.0.0.1:2999" },
      }],
    }),
  );
  const dead = await run(home);
  assert.equal(dead.code, 1);
  assert.equal(
    dead.text,
    `ktctl on 127.0.0.1:2999 (pid ${gone.pid}): not running\n` +
      "  global settings: applied\n" +
      "  it has stopped, but the proxy settings it set are still applied: run `ktctl clean`",
  );
  await Deno.remove(home, { recursive: true });
});

Deno.test("status: parseStatus takes only a version-1 status document", () => {
  const good = statusJson(2223, "socks", 1);
  assert.equal(parseStatus(good)?.lastMinute.failures, 1);
  assert.equal(parseStatus("not json"), undefined);
  assert.equal(parseStatus(JSON.stringify({ ...JSON.parse(good), version: 2 })), undefined);
  const bad = JSON.parse(good);
  bad.traffic.lastMinute.failures = "many";
  assert.equal(parseStatus(JSON.stringify(bad)), undefined);
});

const FORWARD = {
  local: "127.0.0.1:6379",
  target: "service demo/redis:6379",
  state: "listening",
  connections: 1,
  totalConnections: 4,
  failures: 1,
  lastFailure: {
    at: "2026-12-07T12:00:00.000Z",
    kind: "no-endpoints",
    sentence: "service demo/redis has no ready pod",
  },
};

/** A `ktctl forward` as status sees it: its claim on its status port, `command: "forward"`. */
async function fakeForward(home: string) {
  const server = ProxyListener.listen({ hostname: "127.0.0.1", port: 0 });
  const port = server.addr.port;
  const claim = await claimConnect({ address: "127.0.0.1", port }, { ...defaultDeps(), home });
  const doc = JSON.parse(statusJson(port, "forward", 0));
  doc.ktctl.command = "forward";
  doc.session.proxyUrl = doc.session.pacUrl = "";
  doc.forwards = [FORWARD];
  server.serve({
    dialer: { dial: () => Promise.reject(new DialError("policy", "not a proxy")) },
    pages: { pac: () => "", about: () => "", status: () => JSON.stringify(doc) },
  });
  return {
    port,
    async stop() {
      await server.close();
      await claim.release();
    },
  };
}

Deno.test("status: a forward is listed with each forward's counts and last failure", async () => {
  const home = await Deno.makeTempDir({ prefix: "ktctl-status-" });
  const f = await fakeForward(home);
  try {
    const text = await run(home);
    assert.equal(text.code, 0);
    assert.equal(
      text.text,
      `ktctl forward on 127.0.0.1:${f.port} (pid ${Deno.pid}): live view, context kind-test ` +
        `at https://127.0.0.1:6443, up 1 min 5 s\n` +
        `  last minute: 0 connections, 0 failures; 0 open now; 1 forward\n` +
        `  global settings: not applied; live view: http://127.0.0.1:${f.port}/\n` +
        "  forward 127.0.0.1:6379 → service demo/redis:6379: listening, 1 open, 4 in all, " +
        "1 failure (last: service demo/redis has no ready pod)",
    );
    const json = JSON.parse((await run(home, true)).text);
    assert.equal(json.processes[0].status.command, "forward");
    assert.deepEqual(json.processes[0].status.forwardList, [{
      ...FORWARD,
      lastFailure: FORWARD.lastFailure.sentence,
    }]);
  } finally {
    await f.stop();
  }
  // Stopped: its claim is gone, and nothing is listed.
  assert.deepEqual(await run(home), { code: 1, text: "No ktctl is running for this user" });
  await Deno.remove(home, { recursive: true });
});

Deno.test("status: a dead or recycled pid that left nothing applied is not listed", async () => {
  const home = await Deno.makeTempDir({ prefix: "ktctl-status-" });
  await Deno.mkdir(`${home}/.ktctl`, { recursive: true });
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const record = (pid: number, port: number, processStart: string | null) =>
    formatState({
      format: "ktctl-connect-state",
      version: 1,
      pid,
      processStart,
      address: "127.0.0.1",
      port,
      method: null,
      createdAt: new Date().toISOString(),
      values: [],
    });
  await Deno.writeTextFile(
    `${home}/.ktctl/connect-127.0.0.1-2998.json`,
    record(gone.pid, 2998, null),
  );
  // Our own pid, but another start time: the pid now belongs to another program.
  const ours = await defaultDeps().process.startTime(Deno.pid);
  assert.ok(ours);
  const other = ours.replace(/\d(?=\D*$)/, (d) => String((Number(d) + 1) % 10));
  await Deno.writeTextFile(
    `${home}/.ktctl/connect-127.0.0.1-2997.json`,
    record(Deno.pid, 2997, other),
  );
  assert.deepEqual(await run(home), { code: 1, text: "No ktctl is running for this user" });
  await Deno.remove(home, { recursive: true });
});

Deno.test("status: parseStatus checks each forward and strips control characters", () => {
  const doc = JSON.parse(statusJson(2223, "http", 0));
  doc.forwards = [
    { ...FORWARD, target: "service demo/redis\u001b[31m:6379" },
    { local: 5, target: "x", state: "listening", connections: 0 },
    { local: "127.0.0.1:1", target: "pod demo/a:1", state: "listening", connections: 0 },
  ];
  const s = parseStatus(JSON.stringify(doc));
  assert.equal(s?.forwards, 3);
  assert.deepEqual(s?.forwardList.map((f) => [f.target, f.totalConnections, f.lastFailure]), [
    ["service demo/redis?[31m:6379", 4, "service demo/redis has no ready pod"],
    ["pod demo/a:1", 0, null],
  ]);
});
