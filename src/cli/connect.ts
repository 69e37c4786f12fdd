/**
 * `ktctl connect`: options are completed (defaults, kubeconfig), validated, then run, as
 * kubectl's commands do. Running binds the SOCKS port, reads the cluster, prints the banner (or
 * sets the global proxy), and serves until a signal; every step that fails says what to fix
 * before anything is printed as started, and undoes what was done before it.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ApiError, KubeApi } from "../cluster/api.ts";
import { ClusterIndex } from "../cluster/index.ts";
import { loadKubeconfig } from "../cluster/kubeconfig.ts";
import { defaultPortForwardOptions, PortForwarder } from "../portforward/forwarder.ts";
import { ClusterView } from "../cluster/view.ts";
import { canonicalIp, type Cidr, isLoopback, parseCidr } from "../net/ip.ts";
import { SocksServer } from "../front/listener.ts";
import { ClusterConnector } from "../dial/connector.ts";
import { describePolicy, type DirectPolicy } from "../dial/direct.ts";
import { UserError } from "../errors.ts";
import { detectShell, hintCommands } from "./shell_hint.ts";
import type { GlobalFlags } from "./global_flags.ts";
import * as sysproxy from "../sysproxy/mod.ts";

const log = getLogger(["ktctl", "connect"]);

export interface ConnectFlags extends GlobalFlags {
  method: string;
  proxyPort: string;
  proxyAddr: string;
  setupGlobalProxy?: boolean;
  clusterDomain: string;
  dialDirect: string;
  clusterCIDR?: string;
  portForward?: string;
}

export interface ConnectOptions {
  method: "socks" | "socks5";
  address: string;
  port: number;
  setupGlobalProxy: boolean;
  clusterDomain: string;
  direct: DirectPolicy;
  clusterRanges: Cidr[];
  portForward: "multiplexed" | "websocket";
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** Checks and converts the flags; every problem is a UserError naming the flag. */
export function validateConnectFlags(f: ConnectFlags): ConnectOptions {
  if (f.method !== "socks" && f.method !== "socks5") {
    throw new UserError(`--method must be socks or socks5, not "${f.method}"`);
  }
  const portForward = f.portForward ?? "multiplexed";
  if (portForward !== "multiplexed" && portForward !== "websocket") {
    throw new UserError(`--portForward must be multiplexed or websocket, not "${portForward}"`);
  }
  const port = Number(f.proxyPort);
  if (!/^\d+$/.test(f.proxyPort) || port < 1 || port > 65535) {
    throw new UserError(`--proxyPort must be a port number from 1 to 65535, not "${f.proxyPort}"`);
  }
  const address = f.proxyAddr === "localhost" ? "127.0.0.1" : canonicalIp(f.proxyAddr);
  if (!address) throw new UserError(`--proxyAddr must be an IP address, not "${f.proxyAddr}"`);
  const domain = f.clusterDomain.toLowerCase().replace(/^\.|\.$/g, "");
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(domain)) {
    throw new UserError(`--clusterDomain "${f.clusterDomain}" is not a DNS name`);
  }
  if (f.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(f.namespace)) {
    throw new UserError(`-n/--namespace "${f.namespace}" is not a valid namespace name`);
  }
  return {
    method: f.method,
    address,
    port,
    setupGlobalProxy: f.setupGlobalProxy === true,
    clusterDomain: domain,
    direct: parseDirectPolicy(f.dialDirect),
    clusterRanges: f.clusterCIDR ? parseCidrList(f.clusterCIDR, "--clusterCIDR") : [],
    portForward,
    kubeconfig: f.kubeconfig,
    context: f.context,
    namespace: f.namespace,
  };
}

/** `all`, `none`, or a comma-separated list of CIDRs (`127.0.0.0/8,::1/128`). */
export function parseDirectPolicy(text: string): DirectPolicy {
  const t = text.trim().toLowerCase();
  if (t === "all") return { kind: "all" };
  if (t === "none" || t === "off") return { kind: "none" };
  return { kind: "ranges", ranges: parseCidrList(t, "--dialDirect") };
}

function parseCidrList(text: string, flag: string): Cidr[] {
  return text.split(",").filter((s) => s.trim()).map((s) => {
    try {
      return parseCidr(s);
    } catch {
      throw new UserError(`${flag}: "${s.trim()}" is not an address range such as 10.0.0.0/8`);
    }
  });
}

/** The `http_proxy` value that lets curl (and most tools) reach cluster names in each mode. */
export function proxyUrlFor(method: "socks" | "socks5", address: string, port: number): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return `${method === "socks" ? "socks4a" : "socks5h"}://${host}:${port}`;
}

/** A running connect: what tests and the signal handler need to reach and stop it. */
export interface ConnectSession {
  server: SocksServer;
  view: ClusterView;
  proxyUrl: string;
  /** Stops serving and puts back everything changed; resolves once done. */
  stop(): Promise<void>;
}

/** Does everything up to serving; throws UserError (having undone its steps) on failure. */
export async function startConnect(
  opts: ConnectOptions,
  deps: sysproxy.SysProxyDeps = sysproxy.defaultDeps(),
): Promise<ConnectSession> {
  dropSelfPointingProxyEnv(opts.port);
  const target = loadKubeconfig(opts);
  const server = await listenOrExplain(opts, deps);
  // The claim uses the port actually bound, so that port 0 (tests) works too.
  let claim: sysproxy.ConnectClaim;
  try {
    claim = await sysproxy.claimConnect({ address: opts.address, port: server.addr.port }, deps);
  } catch (e) {
    await server.close();
    throw e;
  }
  const undo: (() => Promise<unknown>)[] = [async () => {
    for (const line of await claim.release()) log.info(line);
  }, () => server.close()];
  const unwind = async () => {
    for (const step of undo.reverse()) {
      await step().catch((e) => log.error("While stopping: {error}", { error: String(e) }));
    }
  };
  try {
    for (const line of claim.repaired) log.info(line);
    const proxyUrl = proxyUrlFor(opts.method, opts.address, server.addr.port);
    const api = new KubeApi(target.config, target.server);
    undo.push(() => Promise.resolve(api.close()));
    const index = new ClusterIndex(opts.clusterRanges);
    const view = await ClusterView.start(api, index, { namespace: target.namespace }).catch((e) => {
      throw explainApiError(e, target);
    });
    undo.push(() => view.stop());
    const scope = view.scope.kind === "cluster"
      ? "all namespaces"
      : `namespace ${target.namespace} only`;
    log.info(
      "Connected to {context} at {server}: {pods} pods and {services} services in {scope}; default namespace {ns}",
      {
        context: target.context,
        server: target.server,
        pods: index.count("pods"),
        services: index.count("services"),
        scope,
        ns: target.namespace,
      },
    );
    if (view.scope.kind === "namespace") {
      log.info("This user may not list cluster-wide: only namespace {ns} is reachable", {
        ns: target.namespace,
      });
    }
    if (view.missing.includes("slices")) {
      log.warn("Cannot read endpointslices: services are routed by their selectors instead");
    }
    await warnIfNoPortForward(api, view.scope.kind === "cluster" ? "" : target.namespace);
    if (!isLoopback(opts.address)) {
      log.warn(
        "Listening on {addr}, not loopback: anyone who can reach {addr}:{port} can reach the cluster through it",
        { addr: opts.address, port: opts.port },
      );
    }
    const forwarder = new PortForwarder(target.config, target.server, {
      ...defaultPortForwardOptions,
      mode: opts.portForward,
    });
    undo.push(() => Promise.resolve(forwarder.close()));
    const connector = new ClusterConnector(index, forwarder, {
      namespace: target.namespace,
      clusterDomain: opts.clusterDomain,
      direct: opts.direct,
      dialTimeoutMs: 10_000,
    });
    server.serve(connector);
    log.debug("Direct connections allowed: {policy}", { policy: describePolicy(opts.direct) });

    if (opts.setupGlobalProxy) {
      const applied = await sysproxy.setupGlobalProxy(
        { method: opts.method, address: opts.address, port: server.addr.port, proxyUrl },
        claim,
        deps,
      );
      undo.push(async () => {
        const report = await applied.restore();
        for (const line of report.lines) {
          // logtape's methods need their `this`: call them on the logger, never detached.
          if (report.ok) log.info(line);
          else log.warn(line);
        }
      });
      for (const line of applied.summary) log.info(line);
    } else {
      await printBanner(opts.method, proxyUrl);
    }
    let stopping: Promise<void> | undefined;
    return {
      server,
      view,
      proxyUrl,
      stop: () => stopping ??= unwind(),
    };
  } catch (e) {
    await unwind();
    throw e;
  }
}

/**
 * Binds the SOCKS port. When it is taken, a live ktctl connect there gets named (through its
 * claim); the leftovers of a dead one are repaired on the way.
 */
async function listenOrExplain(
  opts: ConnectOptions,
  deps: sysproxy.SysProxyDeps,
): Promise<SocksServer> {
  try {
    return SocksServer.listen({ hostname: opts.address, port: opts.port });
  } catch (e) {
    if (e instanceof UserError && opts.port !== 0) {
      const claim = await sysproxy.claimConnect({ address: opts.address, port: opts.port }, deps);
      for (const line of claim.repaired) log.info(line);
      await claim.release();
    }
    throw e;
  }
}

async function printBanner(method: "socks" | "socks5", proxyUrl: string): Promise<void> {
  const label = method === "socks" ? "SOCKS" : "SOCKS5";
  const lines = hintCommands(await detectShell(), proxyUrl).map((c) =>
    `Start ${label} Proxy: ${c}`
  );
  const dashes = "-".repeat(Math.max(...lines.map((l) => l.length)));
  log.info(dashes);
  for (const l of lines) log.info(l);
  log.info(dashes);
}

/** Turns API failures at start-up into one line that says what to fix. */
function explainApiError(e: unknown, t: { context: string; server: string; namespace: string }) {
  if (!(e instanceof ApiError)) return e;
  switch (e.kind) {
    case "unreachable":
      return new UserError(
        `${e.message} (context "${t.context}"): is the cluster running, and is the server address in kubeconfig right?`,
      );
    case "unauthorized":
      return new UserError(
        `the API server at ${t.server} rejected the credentials of context "${t.context}" (${e.message}): log in again or renew the token or certificate in kubeconfig`,
      );
    case "forbidden":
      return new UserError(
        `context "${t.context}" may not read pods and services in namespace ${t.namespace} (${e.message}): ktctl needs get/list/watch on pods, services and endpointslices, and create on pods/portforward`,
      );
    default:
      return new UserError(`reading the cluster failed: ${e.message}`);
  }
}

async function warnIfNoPortForward(api: KubeApi, namespace: string): Promise<void> {
  try {
    const review = await api.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: {
        resourceAttributes: {
          namespace,
          verb: "create",
          resource: "pods",
          subresource: "portforward",
        },
      },
    }) as { status?: { allowed?: boolean } };
    if (review.status?.allowed === false) {
      log.warn(
        "This user may not port-forward to pods{where}: connections into the cluster will be refused",
        {
          where: namespace ? ` in namespace ${namespace}` : "",
        },
      );
    }
  } catch (e) {
    log.debug("Could not check the port-forward permission: {error}", { error: String(e) });
  }
}

/**
 * A proxy variable left pointing at ktctl's own port (by a crashed `--setupGlobalProxy`) would
 * send exec credential plugins through a proxy that is not up yet. Drop such values for this
 * process and its children.
 */
function dropSelfPointingProxyEnv(port: number): void {
  for (
    const name of [
      "http_proxy",
      "https_proxy",
      "all_proxy",
      "HTTP_PROXY",
      "HTTPS_PROXY",
      "ALL_PROXY",
    ]
  ) {
    const value = Deno.env.get(name);
    if (!value) continue;
    try {
      const url = new URL(value.includes("://") ? value : `http://${value}`);
      if (Number(url.port) === port && isLoopbackName(url.hostname)) {
        Deno.env.delete(name);
        log.debug("Ignoring {name}={value}: it points at ktctl itself", { name, value });
      }
    } catch { /* not a URL: not ours */ }
  }
}

function isLoopbackName(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || isLoopback(h);
}
