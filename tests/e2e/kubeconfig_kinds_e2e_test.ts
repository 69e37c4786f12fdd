/**
 * The main paths once per kubeconfig kind, against the real control plane: a client certificate
 * with the CA (as data, and as files named relative to the kubeconfig), a bearer token,
 * `insecure-skip-tls-verify`, `tls-server-name`, `proxy-url` through a loopback HTTP CONNECT
 * proxy run here and through microsocks, and an `auth-provider` user (the kind ktctl leaves to client-node). Every kind must use the multiplexed tunnel
 * (the local API server offers it), carry bulk data intact, keep memory bounded under a client
 * that reads nothing, and recover from an API server restart.
 */
import assert from "node:assert/strict";
import {
  BULK,
  clusterInfo,
  ensureCluster,
  kubectl,
  restartApiServer,
  WEB,
} from "../../testenv/cluster/mod.ts";
import { deriveKubeconfig, startSocks5 } from "../helpers/e2e_kubeconfig.ts";
import { curlWithEnv, socks5Connect } from "../../testenv/socks_client.ts";
import { PartedDownload, rawDownload, rawUpload } from "../helpers/bulk.ts";
import { connectProxy } from "../helpers/connect_proxy.ts";
import { waitFor } from "../helpers/wait.ts";
import { type Microsocks, startMicrosocks } from "../helpers/microsocks.ts";

const opts = {};
await ensureCluster();
const info = await clusterInfo();
const dir = await Deno.makeTempDir({ prefix: "ktctl-e2e-kinds-" });
const proxy = connectProxy();

/** A kubeconfig derived from `base`, with its cluster entry changed by `edit`. */
function variant(
  name: string,
  base: string,
  edit: (cluster: Record<string, unknown>) => void,
): Promise<string> {
  return deriveKubeconfig(base, `${dir}/${name}.kubeconfig`, edit);
}

/** A kubeconfig derived from `base`, with its first user entry changed by `edit`. */
async function userVariant(
  name: string,
  base: string,
  edit: (user: Record<string, unknown>) => Promise<void> | void,
): Promise<string> {
  const out = await kubectl(["--kubeconfig", base, "config", "view", "--raw", "-o", "json"]);
  const config = JSON.parse(out.stdout);
  await edit(config.users[0].user);
  const file = `${dir}/${name}.kubeconfig`;
  await Deno.writeTextFile(file, JSON.stringify(config));
  return file;
}

/**
 * microsocks on a loopback port, started once: a SOCKS5 `proxy-url`, which API calls take through
 * undici and client-node's SOCKS connector (loaded only then) and port-forwards through ktctl's
 * own dialer.
 */
let socks: Microsocks | undefined;
async function socksProxyUrl(): Promise<string> {
  socks ??= await startMicrosocks();
  return socks.url;
}

const KINDS: { kind: string; kubeconfig: () => Promise<string> }[] = [
  { kind: "client certificate and CA", kubeconfig: () => Promise.resolve(info.kubeconfigs.admin) },
  { kind: "bearer token", kubeconfig: () => Promise.resolve(info.kubeconfigs.token) },
  {
    kind: "insecure-skip-tls-verify",
    kubeconfig: () =>
      variant("insecure", info.kubeconfigs.admin, (c) => {
        delete c["certificate-authority-data"];
        c["insecure-skip-tls-verify"] = true;
      }),
  },
  {
    kind: "tls-server-name",
    kubeconfig: () =>
      variant("server-name", info.kubeconfigs.admin, (c) => {
        c["tls-server-name"] = "kubernetes.default";
      }),
  },
  {
    kind: "client certificate files",
    kubeconfig: async () => {
      // Named relative to the kubeconfig's folder (kubectl's rule), read from there.
      await Deno.mkdir(`${dir}/pki`, { recursive: true });
      const cluster = await variant("files-ca", info.kubeconfigs.admin, (c) => {
        Deno.writeTextFileSync(
          `${dir}/pki/ca.pem`,
          atob(c["certificate-authority-data"] as string),
        );
        delete c["certificate-authority-data"];
        c["certificate-authority"] = "pki/ca.pem";
      });
      return userVariant("files", cluster, (u) => {
        for (
          const [field, name] of [["client-certificate", "client.pem"], [
            "client-key",
            "client.key",
          ]]
        ) {
          const data = u[`${field}-data`] as string | undefined;
          if (data === undefined) throw new Error(`the admin kubeconfig has no ${field}-data`);
          Deno.writeTextFileSync(`${dir}/pki/${name}`, atob(data));
          delete u[`${field}-data`];
          u[field] = `pki/${name}`;
        }
      });
    },
  },
  {
    kind: "auth-provider",
    kubeconfig: () =>
      userVariant("auth-provider", info.kubeconfigs.token, (u) => {
        // client-node's Azure provider sends a stored access-token that has not expired.
        u["auth-provider"] = { name: "azure", config: { "access-token": u.token } };
        delete u.token;
      }),
  },
  {
    kind: "socks5 proxy-url",
    kubeconfig: async () => {
      const url = await socksProxyUrl();
      return variant("socks", info.kubeconfigs.admin, (c) => {
        c["proxy-url"] = url;
      });
    },
  },
  {
    kind: "proxy-url",
    kubeconfig: () =>
      variant("proxy", info.kubeconfigs.token, (c) => {
        c["proxy-url"] = proxy.url;
      }),
  },
];

const start = (kubeconfig: string) => startSocks5(kubeconfig, dir);

const rssMB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]) / 1024;

async function bulkGet(port: number, size: number): Promise<void> {
  const { conn, reply } = await socks5Connect(port, `${BULK.service}.${BULK.namespace}`, BULK.port);
  try {
    assert.equal(reply, 0);
    // kwok does not close after the pod side ends: read exactly what was asked for.
    const r = await rawDownload(conn, size);
    assert.equal(r.bytes, size);
    assert.equal(r.firstDifference, undefined, "the bytes arrive intact and in order");
    assert.equal(r.sha256, r.want);
  } finally {
    conn.close();
  }
}

async function bulkPut(port: number, size: number): Promise<void> {
  const { conn, reply } = await socks5Connect(port, `${BULK.service}.${BULK.namespace}`, BULK.port);
  try {
    assert.equal(reply, 0);
    const { answer, want } = await rawUpload(conn, size);
    assert.equal(answer, want, "the pod got exactly the bytes sent");
  } finally {
    conn.close();
  }
}

for (const { kind, kubeconfig } of KINDS) {
  Deno.test(
    `${kind}: names, ClusterIP, bulk data and a stalled reader, multiplexed`,
    opts,
    async () => {
      const tunnelsBefore = proxy.tunnels.length;
      const ktctl = await start(await kubeconfig());
      try {
        const ip = JSON.parse(
          (await kubectl(["-n", WEB.namespace, "get", "svc", WEB.service, "-o", "json"])).stdout,
        ).spec.clusterIP;
        for (
          const name of [
            `${WEB.service}.${WEB.namespace}`,
            `${WEB.service}.${WEB.namespace}.svc.cluster.local`,
            ip,
          ]
        ) {
          const r = await curlWithEnv(
            ktctl.proxyUrl,
            `http://${name}/${kind.replaceAll(" ", "-")}`,
          );
          assert.equal(r.code, 0, `${name}: ${r.stderr}\n${ktctl.output()}`);
          assert.match(r.body, /^pod=demo\/web-\d\n/);
        }
        await bulkGet(ktctl.port, 64 * 1024 * 1024);
        await bulkPut(ktctl.port, 16 * 1024 * 1024);

        // A client that reads nothing of a large download: memory stays flat. (An observation
        // window, not a wait for a condition: ktctl must not grow while nobody reads.)
        const { conn, reply } = await socks5Connect(
          ktctl.port,
          `${BULK.service}.${BULK.namespace}`,
          BULK.port,
        );
        assert.equal(reply, 0);
        const download = await PartedDownload.start(conn, 512 * 1024 * 1024);
        await download.read(1024 * 1024); // data flows
        const before = rssMB(ktctl.child.pid);
        await new Promise((r) => setTimeout(r, 3000));
        const grown = rssMB(ktctl.child.pid) - before;
        await download.read(8 * 1024 * 1024); // and still flows, intact, after the pause
        conn.close();
        assert.ok(
          grown < 64,
          `ktctl grew by ${grown.toFixed(0)} MB for a client that read nothing for 3 s`,
        );

        assert.doesNotMatch(ktctl.output(), /does not tunnel SPDY/, "no fall-back");
        if (kind === "proxy-url") {
          assert.ok(
            proxy.tunnels.length > tunnelsBefore,
            "the port-forwards went through the proxy",
          );
        }
      } finally {
        assert.equal(await ktctl.stop(), 0, ktctl.output());
      }
    },
  );
}

Deno.test("every kubeconfig kind recovers from an API server restart", opts, async () => {
  // One restart for all kinds at once: the control plane is shared.
  const running = await Promise.all(KINDS.map(async (k) => ({
    kind: k.kind,
    ktctl: await start(await k.kubeconfig()),
  })));
  const url = `http://${WEB.service}.${WEB.namespace}/`;
  try {
    for (const { kind, ktctl } of running) {
      assert.equal((await curlWithEnv(ktctl.proxyUrl, url)).code, 0, kind);
    }
    await restartApiServer({ downtimeMs: 2000 });
    for (const { kind, ktctl } of running) {
      await waitFor(
        async () => (await curlWithEnv(ktctl.proxyUrl, url)).code === 0,
        30_000,
        `a connection through ktctl (${kind}) after the restart`,
        500,
      );
    }
  } finally {
    for (const { ktctl } of running) await ktctl.stop();
  }
});

Deno.test("kubeconfig kinds: clean up", opts, async () => {
  await proxy.close();
  await socks?.stop();
  await Deno.remove(dir, { recursive: true });
});
