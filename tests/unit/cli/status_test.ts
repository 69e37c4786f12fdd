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
