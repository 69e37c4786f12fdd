/**
 * `ktctl forward TARGET [LOCAL:]REMOTE...`, as kubectl's commands go: the flags become options
 * (Validate: the grammar in src/forward/target.ts, the address), the kubeconfig completes them,
 * then Run reads the cluster, checks the port-forward permission, binds every local port and
 * prints one line per forward. Each connection then picks its pod afresh (src/forward/plan.ts),
 * through the same tunnels, credentials, deadlines and peer-owner check as `connect`.
 *
 * A forward has no proxy port, so it serves its live view and `/api/status` (the one status
 * schema, `command: "forward"`) on a loopback port of its own, and claims that port as connect
 * claims its own (sysproxy/claim.ts): `ktctl status` finds it through the same state file,
 * removed on exit and ignored once its pid is dead or belongs to another program. That port
 * serves only the pages: a proxy request there is refused.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { KubeApi } from "../kube/api.ts";
import { ClusterIndex } from "../cluster/index.ts";
import { type KubeTarget, loadKubeconfig } from "../kube/kubeconfig.ts";
import { ClusterView } from "../cluster/view.ts";
import { ClusterConnector } from "../route/connector.ts";
import { canonicalIp, isLoopback } from "../net/ip.ts";
import { defaultPortForwardOptions, PortForwarder } from "../portforward/forwarder.ts";
import { UserError } from "../errors.ts";
import { type ForwardSpec, parseForwardArgs, SpecError } from "../forward/target.ts";
import { forwardStatuses, startForwards } from "../forward/start.ts";
import type { ForwardContext } from "../forward/plan.ts";
import { explainApiError, mayPortForward } from "./api_errors.ts";
import { ownUserOnly, UndoStack } from "./connect.ts";
import { Activity } from "../front/activity.ts";
import { ProxyListener } from "../front/listener.ts";
import type { Dialer, LocalPages } from "../front/dialer.ts";
import { renderAbout } from "../front/http/about.ts";
import { DialError } from "../net/upstream.ts";
import { hostPort } from "../net/client_address.ts";
import * as sysproxy from "../sysproxy/mod.ts";
import { buildStatus } from "./status_model.ts";
import { VERSION } from "../version.ts";
import type { GlobalFlags } from "./global_flags.ts";

const log = getLogger(["ktctl", "forward"]);

/** The flags as the parser hands them over (parse_args.ts). */
export interface ForwardFlags extends GlobalFlags {
  address: string;
  clusterDomain: string;
  portForward?: string;
  allowOtherUsers?: boolean;
}

/** Validated options. */
export interface ForwardOptions {
  spec: ForwardSpec;
  address: string;
  clusterDomain: string;
  portForward: "multiplexed" | "websocket";
  allowOtherUsers: boolean;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** Checks the operands and flags; every problem is a UserError naming what to fix. */
export function validateForward(target: string, ports: string[], f: ForwardFlags): ForwardOptions {
  let spec: ForwardSpec;
  try {
    spec = parseForwardArgs(target, ports);
  } catch (e) {
    if (e instanceof SpecError) throw new UserError(e.message);
    throw e;
  }
  const address = f.address === "localhost" ? "127.0.0.1" : canonicalIp(f.address);
  if (!address || !isLoopback(address)) {
    throw new UserError(
      `--address must be a loopback address (127.0.0.1, any 127.x.y.z, ::1), not "${f.address}"`,
    );
  }
  const portForward = f.portForward ?? "multiplexed";
  if (portForward !== "multiplexed" && portForward !== "websocket") {
    throw new UserError(`--portForward must be multiplexed or websocket, not "${portForward}"`);
  }
  if (f.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(f.namespace)) {
    throw new UserError(`-n/--namespace "${f.namespace}" is not a valid namespace name`);
  }
  return {
    spec,
    address,
    clusterDomain: f.clusterDomain.toLowerCase().replace(/^\.|\.$/g, ""),
    portForward,
    allowOtherUsers: f.allowOtherUsers === true,
    kubeconfig: f.kubeconfig,
    context: f.context,
    namespace: f.namespace,
  };
}

/** A running `ktctl forward`: its lines and ports, for tests, and how to stop it. */
export interface ForwardSession {
  lines: string[];
  ports: number[];
  /** The loopback port of the live view and `/api/status`. */
  statusPort: number;
  stop(): Promise<void>;
}

/** Complete (the kubeconfig) and Run; throws a UserError, having undone its steps, on failure. */
export async function startForward(
  opts: ForwardOptions,
  deps: sysproxy.SysProxyDeps = sysproxy.defaultDeps(),
): Promise<ForwardSession> {
  const startedAt = Date.now();
  const target: KubeTarget = loadKubeconfig(opts);
  const undo = new UndoStack();
  try {
    const api = new KubeApi(target.config, target.server);
    undo.push(() => api.close());
    const index = new ClusterIndex();
    const view = await ClusterView.start(api, index, { namespace: target.namespace }).catch((e) => {
      throw explainApiError(e, target);
    });
    undo.push(() => view.stop());
    const namespace = opts.spec.target.namespace ?? target.namespace;
    await requirePortForward(api, namespace, target.context);
    const forwarder = new PortForwarder(target.config, target.server, {
      ...defaultPortForwardOptions,
      mode: opts.portForward,
    });
    undo.push(() => forwarder.close());
    const connector = new ClusterConnector(index, forwarder, {
      namespace: target.namespace,
      clusterDomain: opts.clusterDomain,
      // A forward goes only to pods: nothing is ever dialled from this machine.
      direct: { kind: "none" },
      dialTimeoutMs: 10_000,
    });
    const admit = opts.allowOtherUsers ? undefined : ownUserOnly();
    if (admit) undo.push(() => admit.close?.());
    const ctx: ForwardContext = {
      api,
      index,
      connector,
      namespace: target.namespace,
      clusterDomain: opts.clusterDomain,
    };
    const activity = new Activity();
    const running = await startForwards([opts.spec], ctx, {
      address: opts.address,
      admit,
      activity,
    });
    undo.push(() => running.close());
    const lines = running.forwards.map((f) => f.line);
    for (const line of lines) log.info(line);
    const cluster = `context ${target.context} at ${target.server}`;
    const statusPort = await serveStatus(
      opts,
      deps,
      undo,
      cluster,
      (address) =>
        JSON.stringify(buildStatus({
          now: Date.now(),
          version: VERSION,
          pid: Deno.pid,
          command: "forward",
          session: {
            context: target.context,
            server: target.server,
            namespace: target.namespace,
            mode: "forward",
            address,
            // A forward is no proxy: nothing to point a program at but the forwards.
            proxyUrl: "",
            pacUrl: "",
            startedAt,
            globalSettings: { applied: false, values: [] },
            upstreamProxy: null,
            scope: view.scope.kind,
            namespaces: index.namespaces(),
            api: { roundTripMs: null, checkedAt: null, watches: view.watches() },
          },
          activity: activity.snapshot(),
          tunnels: forwarder.tunnels(),
          forwards: forwardStatuses(running.forwards),
        })),
    );
    return {
      lines,
      ports: running.forwards.map((f) => f.listener.addr.port),
      statusPort,
      stop: () => {
        activity.stopping = true;
        return undo.run();
      },
    };
  } catch (e) {
    await undo.run();
    throw e;
  }
}

/**
 * Serves the live view and `/api/status` on a free loopback port and claims it (the state file
 * `ktctl status` reads); returns the port. A status port that cannot be had only costs the
 * view: the forwards run on, with a warning.
 */
async function serveStatus(
  opts: ForwardOptions,
  deps: sysproxy.SysProxyDeps,
  undo: UndoStack,
  cluster: string,
  status: (address: string) => string,
): Promise<number> {
  let server: ProxyListener;
  let claim: sysproxy.ConnectClaim;
  try {
    server = ProxyListener.listen({ hostname: opts.address, port: 0, maxConnections: 64 });
  } catch (e) {
    log.warn("No live view: {error}", { error: String(e) });
    return 0;
  }
  const port = server.addr.port;
  try {
    claim = await sysproxy.claimConnect({ address: opts.address, port }, deps);
  } catch (e) {
    await server.close();
    log.warn("No live view (`ktctl status` will not list this forward): {error}", {
      error: String(e),
    });
    return 0;
  }
  undo.push(async () => {
    for (const line of await claim.release()) log.info(line);
  });
  undo.push(() => server.close());
  const where = hostPort(opts.address, port);
  const pages: LocalPages = {
    pac: () => 'function FindProxyForURL(url, host) { return "DIRECT"; }\n',
    about: () => renderAbout({ version: VERSION, cluster, hostPort: where, command: "forward" }),
    status: () => status(where),
  };
  server.serve({
    dialer: notAProxy,
    pages,
    admit: opts.allowOtherUsers ? undefined : ownUserOnly(),
  });
  log.info("Live view: http://{where}/ (or run `ktctl status`)", { where });
  return port;
}

/** The status port serves pages only. */
const notAProxy: Dialer = {
  dial: () =>
    Promise.reject(
      new DialError("policy", "this is ktctl forward's live view, not a proxy: use the forwards"),
    ),
};

/**
 * Refuses to start when the API server says this user may not port-forward in `namespace`:
 * every connection would fail. An answer that cannot be had (an old server, no review API)
 * lets the forward start; a connection then says why it failed.
 */
export async function requirePortForward(
  api: Pick<KubeApi, "post">,
  namespace: string,
  context: string,
): Promise<void> {
  const allowed = await mayPortForward(api, namespace);
  if (allowed === false) {
    throw new UserError(
      `context "${context}" may not port-forward to pods in namespace ${namespace}: ktctl forward needs create on pods/portforward`,
    );
  }
}
