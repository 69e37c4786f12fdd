/**
 * The lines a ClaimError carries (what could not be restored, that the state file was kept)
 * reach the user: `ktctl connect` as a subprocess, with a dead predecessor's state file whose
 * values cannot be restored (off Windows there is no registry to restore them into).
 */
import assert from "node:assert/strict";
import { freePort } from "../../../testenv/ktctl_process.ts";

const MAIN = new URL("../../../main.ts", import.meta.url).pathname;

Deno.test("connect prints a ClaimError's lines after its ERR line", async () => {
  const home = await Deno.makeTempDir({ prefix: "ktctl-claim-lines-" });
  try {
    const port = freePort();
    const statePath = `${home}/.ktctl/connect-127.0.0.1-${port}.json`;
    await Deno.mkdir(`${home}/.ktctl`);
    const dead = 2 ** 22 + 17; // above Linux's pid_max: never running
    await Deno.writeTextFile(
      statePath,
      JSON.stringify({
        format: "ktctl-connect-state",
        version: 1,
        pid: dead,
        processStart: null,
        address: "127.0.0.1",
        port,
        method: "socks",
        createdAt: "2024-05-01T09:30:00.000Z",
        values: [{
          key: "HKCU\\Environment",
          name: "http_proxy",
          previous: null,
          set: { type: "REG_SZ", data: `socks4a://127.0.0.1:${port}` },
        }],
      }),
    );
    const kubeconfig = `${home}/kubeconfig`;
    await Deno.writeTextFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
        "current-context": "x",
      }),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "connect",
        "-c",
        kubeconfig,
        "--proxyPort",
        String(port),
        "--dialDirect",
        "127.0.0.0/8,::1/128",
      ],
      env: { HOME: home, NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    const lines = stderr.split("\n");
    const error = lines.findIndex((line) =>
      line.includes(
        `ERR could not restore what connect pid ${dead} (127.0.0.1:${port}) left behind`,
      )
    );
    assert.ok(error >= 0, stderr);
    assert.match(lines[error + 1], new RegExp(`WRN connect pid ${dead} .* is gone`));
    assert.match(
      lines[error + 2],
      /WRN {3}Could not restore HKCU\\Environment\\http_proxy: the Windows registry is only/,
    );
    assert.match(lines[error + 3], /WRN {3}Kept .*; fix the problem above and run `ktctl clean`/);
    assert.ok(await Deno.stat(statePath));
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
