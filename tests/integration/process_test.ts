/**
 * How `ktctl connect` ends, and how it starts after a crash, as a user's process sees it (the
 * real CLI as a child process, a fake API server, a loopback pod):
 * - SIGTERM and SIGHUP (a closed terminal, a service manager) stop it as Ctrl+C does: tunnels
 *   closed, exit 0.
 * - A second stop signal while it is stopping ends it at once, with 130 and a warning that the
 *   proxy settings may need `ktctl clean`.
 * - Proxy variables left pointing at ktctl's own port (a crashed `--setupGlobalProxy`) are
 *   ignored: the API server is still reached directly, and the exec credential plugin it starts
 *   does not see them, while a proxy variable pointing elsewhere is left alone.
 */
import assert from "node:assert/strict";
import { applyOneWebPod, FakeApiServer } from "../../testenv/fake_apiserver.ts";
import { httpBackend } from "../../testenv/backends.ts";
import { freePort, type KtctlProcess, startKtctl } from "../../testenv/ktctl_process.ts";
import { curl } from "../../testenv/socks_client.ts";
import { waitFor } from "../helpers/wait.ts";

/** A fake API server with one web pod, a kubeconfig for it, and a ktctl run against them. */
async function withKtctl(
  body: (k: KtctlProcess, dir: string) => Promise<void>,
  opts: {
    env?: Record<string, string>;
    port?: number;
    kubeconfig?: (api: FakeApiServer, dir: string) => Promise<string> | string;
    args?: string[];
  } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-process-" });
  const api = new FakeApiServer();
  const backend = httpBackend("demo/web-1");
  let ktctl: KtctlProcess | undefined;
  try {
    applyOneWebPod(api, backend.port);
    const kubeconfig = opts.kubeconfig
      ? await opts.kubeconfig(api, dir)
      : api.kubeconfig("admin-token", "demo");
    await Deno.writeTextFile(`${dir}/kubeconfig`, kubeconfig);
    ktctl = await startKtctl(
      [
        "-c",
        `${dir}/kubeconfig`,
        "--method",
        "socks5",
        "--dialDirect",
        "127.0.0.0/8",
        ...(opts.args ?? []),
      ],
      {
        port: opts.port,
        env: { HOME: dir, USERPROFILE: dir, NO_COLOR: "1", ...opts.env },
      },
    );
    await body(ktctl, dir);
  } finally {
    if (ktctl) await ktctl.stop("SIGKILL");
    await api.close();
    await backend.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function reaches(k: KtctlProcess): Promise<void> {
  // The port rather than k.proxyUrl: with -d, a DBG line naming http_proxy may come first.
  const r = await curl(`socks5h://127.0.0.1:${k.port}`, "http://web.demo/alive");
  assert.equal(r.code, 0, `${r.stderr}\n${k.output()}`);
  assert.match(r.body, /^pod=demo\/web-1\n/);
}

for (const signal of ["SIGTERM", "SIGHUP"] as const) {
  Deno.test(`${signal} stops ktctl as Ctrl+C does: exit 0, stopped cleanly`, async () => {
    await withKtctl(async (k) => {
      await reaches(k);
      assert.equal(await k.stop(signal), 0, k.output());
      assert.match(k.output(), /INF Stopping\n[\s\S]*INF Stopped\n/);
      assert.doesNotMatch(k.output(), /WRN|ERR/);
    });
  });
}

Deno.test("a second stop signal while stopping exits at once with 130 and says why", async () => {
  await withKtctl(async (k) => {
    await reaches(k);
    // Both signals pending together: stopped, both sent, continued. (Two of the same signal
    // would merge into one while pending, so the second is SIGTERM: the same handler.)
    const pid = k.child.pid;
    Deno.kill(pid, "SIGSTOP");
    Deno.kill(pid, "SIGINT");
    Deno.kill(pid, "SIGTERM");
    Deno.kill(pid, "SIGCONT");
    const code = await k.stop("SIGCONT");
    assert.equal(code, 130, k.output());
    assert.match(k.output(), /WRN Stopping at once\n/);
    // Nothing outside ktctl was changed (no --setupGlobalProxy): no `clean` to suggest.
    assert.doesNotMatch(k.output(), /ktctl clean/);
    assert.doesNotMatch(k.output(), /INF Stopped\n/);
  });
});

Deno.test("one Ctrl+C still stops cleanly (the second-signal path is not taken)", async () => {
  await withKtctl(async (k) => {
    assert.equal(await k.stop("SIGINT"), 0, k.output());
    assert.match(k.output(), /INF Stopped\n/);
    assert.doesNotMatch(k.output(), /Stopping at once/);
  });
});

/** A kubeconfig whose exec plugin writes the proxy variables it sees to `dir`/plugin-env. */
function pluginKubeconfig(api: FakeApiServer, dir: string): string {
  const config = JSON.parse(api.kubeconfig("admin-token", "demo"));
  config.users[0].user = {
    exec: {
      apiVersion: "client.authentication.k8s.io/v1",
      command: "sh",
      args: [
        "-c",
        `env | grep -i _proxy= > '${dir}/plugin-env' || true; printf '%s' ` +
        `'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",` +
        `"status":{"token":"admin-token"}}'`,
      ],
      interactiveMode: "Never",
    },
  };
  return JSON.stringify(config);
}

async function pluginEnv(dir: string): Promise<string> {
  await waitFor(
    async () => {
      try {
        return (await Deno.stat(`${dir}/plugin-env`)).isFile;
      } catch {
        return false;
      }
    },
    5000,
    "the credential plugin's run",
  );
  return await Deno.readTextFile(`${dir}/plugin-env`);
}

Deno.test("proxy variables left pointing at ktctl's own port are ignored: the API server is reached directly", async () => {
  const port = freePort();
  await withKtctl(async (k, dir) => {
    await reaches(k);
    const seen = await pluginEnv(dir);
    for (const name of ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]) {
      assert.doesNotMatch(seen, new RegExp(`^${name}=`, "m"), `${name} reached the plugin`);
    }
    assert.match(
      k.output(),
      /DBG Ignoring https_proxy=127\.0\.0\.1:\d+: it points at ktctl itself/,
    );
    assert.equal(await k.stop(), 0, k.output());
  }, {
    port,
    args: ["-d"],
    env: {
      http_proxy: `http://127.0.0.1:${port}`,
      https_proxy: `127.0.0.1:${port}`,
      HTTP_PROXY: `http://localhost:${port}/`,
      HTTPS_PROXY: `http://127.0.0.1:${port}`,
      ALL_PROXY: `socks5h://127.0.0.1:${port}`,
      NO_PROXY: "",
      no_proxy: "",
    },
    kubeconfig: pluginKubeconfig,
  });
});

Deno.test("a proxy variable pointing elsewhere is left alone", async () => {
  const port = freePort();
  const elsewhere = `http://127.0.0.1:${freePort()}`;
  await withKtctl(async (k, dir) => {
    const seen = await pluginEnv(dir);
    assert.match(seen, new RegExp(`^HTTPS_PROXY=${elsewhere}$`, "m"));
    assert.doesNotMatch(seen, /^http_proxy=/m);
    assert.equal(await k.stop(), 0, k.output());
  }, {
    port,
    env: {
      http_proxy: `http://127.0.0.1:${port}`,
      HTTPS_PROXY: elsewhere,
      // The fake API server is on loopback: not through the foreign proxy.
      NO_PROXY: "127.0.0.1",
      no_proxy: "127.0.0.1",
    },
    kubeconfig: pluginKubeconfig,
  });
});
