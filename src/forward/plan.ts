/**
 * Turns a parsed forward (target.ts) into what the listener needs: the local port, the line to
 * print, and how each accepted connection opens its upstream. Checked once at start, so an
 * unknown target or port is one error before anything listens; chosen again per connection, so
 * a forward follows the cluster:
 *
 * - a service: through the route code (ClusterConnector.dial on the service's cluster name), so
 *   each connection takes a ready, non-terminating endpoint (round-robin, the next on failure)
 *   on the target port the service maps the port to, exactly as `connect` routes it;
 * - a deployment: the ready pods its selector matches now, round-robin, the next on failure;
 * - a pod: that pod, as kubectl does (a pod recreated under the same name is used again).
 * @module
 */
import { ApiError, type KubeApi } from "../kube/api.ts";
import type { ClusterIndex } from "../cluster/index.ts";
import { decodePod, type PodInfo } from "../kube/objects.ts";
import type { ClusterConnector } from "../route/connector.ts";
import type { PodTarget, Route } from "../route/resolve.ts";
import { DialError, type Upstream } from "../net/upstream.ts";
import { UserError } from "../errors.ts";
import {
  describeTarget,
  type ForwardSpec,
  type ForwardTarget,
  localPortOf,
  type PortSpec,
} from "./target.ts";
import { deploymentSelector, type LabelSelector, matchesExpressions } from "./selector.ts";

export interface ForwardContext {
  api: Pick<KubeApi, "get">;
  index: ClusterIndex;
  connector: Pick<ClusterConnector, "dial" | "open">;
  /** The namespace of targets that name none (`-n`, else the context's). */
  namespace: string;
  clusterDomain: string;
}

/** One local port's forward, ready to listen. */
export interface PlannedForward {
  /** The local port to bind (0: any free one). */
  localPort: number;
  /** What it forwards to, as printed: "service db/postgres:5432". */
  describe: string;
  /** Opens the upstream for one accepted connection; rejects with a DialError. */
  open(): Promise<Upstream>;
}

/** Plans every port of `spec`; throws a UserError that names the target or the port. */
export async function planForward(
  spec: ForwardSpec,
  ctx: ForwardContext,
): Promise<PlannedForward[]> {
  const t = spec.target;
  const namespace = t.namespace ?? ctx.namespace;
  switch (t.kind) {
    case "service":
      return spec.ports.map((p) => servicePlan(t, namespace, p, ctx));
    case "pod": {
      const pod = decodePod(await getObject(ctx, t, namespace, `/api/v1`, "pods"));
      if (!pod.live) {
        throw new UserError(`pod ${namespace}/${t.name} is not running: it cannot be forwarded to`);
      }
      return spec.ports.map((p) => podPlan(pod, p, ctx));
    }
    case "deployment": {
      const raw = await getObject(ctx, t, namespace, `/apis/apps/v1`, "deployments");
      const selector = deploymentSelector(raw);
      if (!selector || Object.keys(selector.matchLabels).length === 0) {
        throw new UserError(
          `deployment ${namespace}/${t.name} has no matchLabels selector ktctl can use: forward to its service or to one pod`,
        );
      }
      const plans = [];
      for (const p of spec.ports) plans.push(await deploymentPlan(t, namespace, selector, p, ctx));
      return plans;
    }
  }
}

function servicePlan(
  t: ForwardTarget,
  namespace: string,
  spec: PortSpec,
  ctx: ForwardContext,
): PlannedForward {
  const id = `${namespace}/${t.name}`;
  const svc = ctx.index.service(namespace, t.name);
  if (!svc) {
    throw new UserError(
      `service ${id} not found${
        ctx.index.hasNamespace(namespace) || ctx.index.namespaceCount() === 0
          ? ""
          : ` (no namespace ${namespace} is visible)`
      }: check the name, or pass -n or svc.namespace`,
    );
  }
  if (svc.type === "ExternalName") {
    throw new UserError(`service ${id} is an ExternalName service: it has no pods to forward to`);
  }
  const tcp = svc.ports.filter((p) => p.protocol === "TCP");
  const port = typeof spec.remote === "number"
    ? tcp.find((p) => p.port === spec.remote)
    : tcp.find((p) => p.name === spec.remote);
  if (!port) {
    const known = tcp.map((p) => (p.name ? `${p.port} (${p.name})` : String(p.port))).join(", ");
    throw new UserError(
      `service ${id} has no TCP port ${spec.remote} (it has: ${known || "none"})`,
    );
  }
  // The service's own cluster name: resolve.ts maps the port (named targetPorts too) per pod.
  const host = `${t.name}.${namespace}.svc.${ctx.clusterDomain}`;
  return {
    localPort: localPortOf(spec, port.port),
    describe: `service ${id}:${port.port}`,
    open: async () => (await ctx.connector.dial(host, port.port)).upstream,
  };
}

function podPlan(pod: PodInfo, spec: PortSpec, ctx: ForwardContext): PlannedForward {
  const id = `${pod.namespace}/${pod.name}`;
  const port = containerPort(pod, spec.remote);
  if (port === undefined) {
    throw new UserError(`pod ${id} has no container port named ${spec.remote}${known(pod)}`);
  }
  const route: ClusterRoute = {
    kind: "cluster",
    via: `pod ${id}`,
    targets: [{ namespace: pod.namespace, pod: pod.name, port }],
    spreadKey: `pod/${id}`,
  };
  return {
    localPort: localPortOf(spec, port),
    describe: `pod ${id}:${port}`,
    open: () => ctx.connector.open(route),
  };
}

async function deploymentPlan(
  t: ForwardTarget,
  namespace: string,
  selector: LabelSelector,
  spec: PortSpec,
  ctx: ForwardContext,
): Promise<PlannedForward> {
  const id = `${namespace}/${t.name}`;
  const readyTargets = async (): Promise<PodTarget[]> => {
    const pods = (await ctx.index.podsMatching(namespace, selector.matchLabels)).filter((p) =>
      p.live && p.ready && !p.terminating && matchesExpressions(p.labels, selector.matchExpressions)
    );
    return pods.flatMap((pod) => {
      const port = containerPort(pod, spec.remote);
      return port === undefined ? [] : [{ namespace, pod: pod.name, port }];
    }).sort((a, b) => a.pod.localeCompare(b.pod));
  };
  let remoteNumber = typeof spec.remote === "number" ? spec.remote : undefined;
  if (remoteNumber === undefined) {
    // A named port: its number names the local port (as kubectl does), when one pod has it now.
    remoteNumber = (await readyTargets())[0]?.port;
    if (remoteNumber === undefined && spec.local === undefined) {
      throw new UserError(
        `no ready pod of deployment ${id} has a port named ${spec.remote}: give the number, or LOCAL:${spec.remote}`,
      );
    }
  }
  return {
    localPort: localPortOf(spec, remoteNumber ?? 0),
    describe: `deployment ${id}:${spec.remote}`,
    open: async () => {
      const targets = await readyTargets();
      if (targets.length === 0) {
        throw new DialError(
          "no-endpoints",
          `deployment ${id} has no ready pod with port ${spec.remote}`,
        );
      }
      return await ctx.connector.open({
        kind: "cluster",
        via: `deployment ${id}`,
        targets,
        spreadKey: `deploy/${id}:${spec.remote}`,
      });
    },
  };
}

type ClusterRoute = Extract<Route, { kind: "cluster" }>;

/** A port number as is; a name looked up among the pod's container ports. */
export function containerPort(pod: PodInfo, remote: number | string): number | undefined {
  if (typeof remote === "number") return remote;
  return pod.ports.find((p) => p.name === remote && p.protocol === "TCP")?.port;
}

function known(pod: PodInfo): string {
  const named = pod.ports.filter((p) => p.name).map((p) => `${p.name} ${p.port}`);
  return named.length > 0 ? ` (it has: ${named.join(", ")})` : "";
}

/** GETs the target object; not found and forbidden become one line that says so. */
async function getObject(
  ctx: ForwardContext,
  t: ForwardTarget,
  namespace: string,
  group: string,
  resource: string,
): Promise<unknown> {
  const what = describeTarget(t, namespace);
  try {
    return await ctx.api.get(
      `${group}/namespaces/${encodeURIComponent(namespace)}/${resource}/${
        encodeURIComponent(t.name)
      }`,
    );
  } catch (e) {
    if (e instanceof ApiError && e.kind === "not-found") {
      throw new UserError(`${what} not found: check the name, or pass -n`);
    }
    if (e instanceof ApiError && e.kind === "forbidden") {
      throw new UserError(
        `this user may not read ${what} (${e.message}): ktctl needs get on ${resource}`,
      );
    }
    throw e;
  }
}
