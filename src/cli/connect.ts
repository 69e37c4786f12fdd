/**
 * `ktctl connect`, as kubectl's commands go: options validated (connect_options.ts), completed
 * with the kubeconfig, then run. Running binds the port, reads the cluster, serves, and prints
 * the banner (or sets the global proxy); every step that fails says what to fix before anything
 * is printed as started, and undoes what was done before it.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { KubeApi } from "../kube/api.ts";
import { ClusterIndex } from "../cluster/index.ts";
import { type KubeTarget, loadKubeconfig } from "../kube/kubeconfig.ts";
import { ClusterView } from "../cluster/view.ts";
import { ClusterConnector } from "../route/connector.ts";
import { describePolicy } from "../route/direct.ts";
import type { AdmissionCheck } from "../front/dialer.ts";
import { ListenError, ProxyListener } from "../front/listener.ts";
import { peerOwnerCheck } from "../peer/owner.ts";
import { NameDemand } from "../peer/name_demand.ts";
import { admissionCheck } from "../peer/policy.ts";
import { clientHost, hostPort } from "../net/client_address.ts";
import { formatCidr, isLoopback } from "../net/ip.ts";
import { defaultPortForwardOptions, PortForwarder } from "../portforward/forwarder.ts";
import * as sysproxy from "../sysproxy/mod.ts";
import { UserError } from "../errors.ts";
import { explainApiError, warnIfNoPortForward } from "./api_errors.ts";
import { bannerLines, framedBanner, proxyUrlFor } from "./banner.ts";
import type { ConnectOptions } from "./connect_options.ts";
import { localPages } from "./local_pages.ts";
import { detectShell } from "./shell_hint.ts";
import type { PacEvaluatorFactory, UpstreamFound } from "../net/proxy_config.ts";
import { selectUpstream, upstreamBannerLine } from "../net/upstream_source.ts";
import { noProxyCoveringCluster } from "../net/no_proxy.ts";
import { UpstreamChooser } from "../route/upstream_choice.ts";
import { pacSandbox } from "../net/pac_sandbox.ts";
import { Activity } from "../front/activity.ts";
import { buildStatus } from "./status_model.ts";
import { VERSION } from "../version.ts";
import { forwardStatuses, type RunningForwards, startForwards } from "../forward/start.ts";
import type { ForwardContext } from "../forward/plan.ts";
import { PreviousPac } from "./previous_pac.ts";
import { detectAutoProxyConfigUrl, winHttpPacEvaluator } from "../os/winhttp.ts";
import { describeUpstream, readPreviousSettings } from "../sysproxy/previous_settings.ts";
import { pacUrl } from "../sysproxy/windows_plan.ts";

export { type ConnectFlags, type ConnectOptions, validateConnectFlags } from "./connect_options.ts";

const log = getLogger(["ktctl", "connect"]);
/** The connection log's logger: its `-d` lines name each client program. */
const proxyLog = getLogger(["ktctl", "proxy"]);

/** Options with everything derived filled in (kubectl's Complete step). */
export interface CompletedConnect extends ConnectOptions {
  target: KubeTarget;
  /** The address programs use to reach ktctl (loopback for a 0.0.0.0 listener). */
  clientHost: string;
}

/** Loads the kubeconfig; a missing or broken one is a UserError. */
export function completeConnect(opts: ConnectOptions): CompletedConnect {
  return { ...opts, target: loadKubeconfig(opts), clientHost: clientHost(opts.address) };
}

/** A running connect: what tests and the signal handler need to reach and stop it. */
export interface ConnectSession {
  server: ProxyListener;
  view: ClusterView;
  /** The `http_proxy` value for this mode. */
  proxyUrl: string;
  /** What the live view records: connections now, failures, counts per minute. */
  activity: Activity;
  /** The `--forward`s, served alongside the proxy (none unless asked for). */
  forwards: RunningForwards["forwards"];
  /** The Windows proxy settings found before anything changed (Windows only). */
  windowsUpstream?: UpstreamFound;
  /** Stops serving and puts back everything changed; resolves once done. */
  stop(): Promise<void>;
  /** The banner's line about the upstream proxy (net/upstream_source.ts). */
  upstreamLine: string;
}

/**
 * Where the upstream proxy may come from besides the flag and the environment. Windows: the
 * system-proxy side's reader of the settings found before ktctl changed anything (`system`) and
 * its WinHttpGetProxyForUrl-backed PAC evaluator (`pacFactory`) go here.
 */
export interface UpstreamSources {
  system?: () => Promise<UpstreamFound | undefined>;
  pacFactory?: PacEvaluatorFactory;
}

/** The portable PAC evaluator: a permission-less Worker (net/pac_sandbox.ts). */
const portablePac: PacEvaluatorFactory = (source) => {
  if (!source.url) {
    throw new UserError("automatic proxy detection (WPAD) is only available on Windows");
  }
  return pacSandbox(source.url, {
    onError: (message) => log.warn("Upstream PAC: {message}", { message }),
  });
};

/** How the command line follows and steers a start-up that is under way. */
export interface StartControl {
  /** Aborting it (the first Ctrl+C) stops the start-up at once, undoing what was done. */
  signal?: AbortSignal;
  /** Set once ktctl has changed a setting outside itself (the global proxy). */
  changed?: { value: boolean };
}

/** Thrown when the start-up was stopped by {@link StartControl.signal}. */
export class StartAborted extends Error {
  override name = "StartAborted";
}

/** Completes and runs; throws UserError (having undone its steps) on failure. */
export async function startConnect(
  opts: ConnectOptions,
  deps: sysproxy.SysProxyDeps = sysproxy.defaultDeps(),
  control: StartControl = {},
  sources: UpstreamSources = {},
): Promise<ConnectSession> {
  dropSelfPointingProxyEnv(opts.port);
  return await runConnect(completeConnect(opts), deps, control, sources);
}

/** `promise`, or StartAborted as soon as `signal` aborts (the promise is left to settle). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new StartAborted("stopped while starting"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StartAborted("stopped while starting"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Steps to undo, run in reverse; each failure is logged and the rest still run. */
export class UndoStack {
  #steps: (() => Promise<unknown>)[] = [];
  #running: Promise<void> | undefined;

  push(step: () => Promise<unknown> | unknown): void {
    this.#steps.push(async () => await step());
  }

  run(): Promise<void> {
    return this.#running ??= (async () => {
      for (const step of this.#steps.reverse()) {
        await step().catch((e) => log.error("While stopping: {error}", { error: String(e) }));
      }
    })();
  }
}

async function runConnect(
  opts: CompletedConnect,
  deps: sysproxy.SysProxyDeps,
  control: StartControl,
  sources: UpstreamSources,
): Promise<ConnectSession> {
  const { target } = opts;
  const { signal } = control;
  const startedAt = Date.now();
  log.info("Connecting to {context} at {server}...", {
    context: target.context,
    server: target.server,
  });
  // First, what waits on the network, so that all that follows overlaps it: the port-forwards'
  // first connection to the API server (with a client certificate its TLS handshake can wait ~40
  // ms for the server's delayed ACK, net/server_dial.ts; the first proxied connection needs it)
  // and the start-up lists. Both are dropped if the start-up fails before they are used.
  const forwarder = new PortForwarder(target.config, target.server, {
    ...defaultPortForwardOptions,
    mode: opts.portForward,
  });
  forwarder.warm();
  const api = new KubeApi(target.config, target.server);
  const index = new ClusterIndex(opts.clusterRanges);
  const started = ClusterView.start(api, index, { namespace: target.namespace });
  started.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
  let viewStoppedBefore = false; // set once the view has its own undo step, which runs first
  const network = new UndoStack();
  network.push(() => {
    if (viewStoppedBefore) return api.close();
    // A start-up that failed or was stopped does not wait for the lists: the view is stopped as
    // soon as it exists, and only then the client closed (closed first, a list still running
    // would open a new one that nothing closes).
    started.then((v) => v.stop(), () => {}).finally(() => api.close());
  });
  network.push(() => forwarder.close());
  let server: ProxyListener;
  let claim: sysproxy.ConnectClaim;
  try {
    server = await listenOrExplain(opts, deps);
  } catch (e) {
    await network.run();
    throw e;
  }
  const port = server.addr.port; // the port bound: 0 (tests) becomes a real one
  const where = hostPort(opts.clientHost, port);
  try {
    claim = await sysproxy.claimConnect({ address: opts.address, port }, deps);
  } catch (e) {
    await network.run();
    await server.close();
    throw e;
  }
  const undo = new UndoStack();
  undo.push(async () => {
    for (const line of await claim.release()) log.info(line);
  });
  undo.push(() => server.close());
  undo.push(() => network.run());
  try {
    for (const line of claim.repaired) log.info(line);
    const proxyUrl = proxyUrlFor(opts.method, where);
    // The Windows settings as they were, read after the claim repaired a crashed predecessor
    // and before anything changes: routing and the PAC keep sending the rest where it went.
    const windowsUpstream = windowsPrevious(deps, opts.clientHost, port);
    const previousPac = await PreviousPac.start(windowsUpstream?.config, {
      detect: deps.platform === "windows" ? detectAutoProxyConfigUrl : undefined,
    });
    undo.push(() => previousPac.stop());
    const upstream = chooseUpstream(opts, deps, windowsUpstream, sources);
    const view = await unlessAborted(started, signal).catch((e) => {
      throw e instanceof StartAborted ? e : explainApiError(e, target);
    });
    undo.push(() => view.stop());
    viewStoppedBefore = true;
    logConnected(opts, view, index);
    const upstreamLine = upstreamBannerLine(upstream.found);
    warnIfNoProxyCoversCluster(opts, index);
    // Only a warning: asked now, awaited before the banner, not before the proxy serves.
    const portForwardCheck = warnIfNoPortForward(
      api,
      view.scope.kind === "cluster" ? "" : target.namespace,
    );
    portForwardCheck.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
    const chooser = new UpstreamChooser(upstream.found.config, upstream.pacFactory);
    undo.push(() => chooser.close());
    const dialer = new ClusterConnector(index, forwarder, {
      namespace: target.namespace,
      clusterDomain: opts.clusterDomain,
      direct: opts.direct,
      dialTimeoutMs: 10_000,
      upstream: chooser,
      selfAddress: opts.address,
      allowLocalTargets: opts.allowLocalTargets,
    });
    const activity = new Activity();
    // Filled once the --forwards are up (after the proxy serves): the status lists them then.
    let forwards: RunningForwards["forwards"] = [];
    const roundTrip = apiRoundTrip(api);
    // Client programs are named only while someone reads them (name_demand.ts).
    const names = new NameDemand(() => proxyLog.isEnabledFor("debug"));
    const status = () => {
      names.read();
      return JSON.stringify(buildStatus({
        now: Date.now(),
        version: VERSION,
        pid: Deno.pid,
        command: "connect",
        session: {
          context: target.context,
          server: target.server,
          namespace: target.namespace,
          mode: opts.method,
          address: where,
          proxyUrl,
          pacUrl: `http://${where}/proxy.pac`,
          startedAt,
          globalSettings: {
            applied: claim.record.values.length > 0,
            values: claim.record.values.map((v) => ({ name: v.name, value: String(v.set.data) })),
          },
          upstreamProxy: upstream.found.config.kind === "none" ? null : upstreamLine,
          scope: view.scope.kind,
          namespaces: index.namespaces(),
          api: { ...roundTrip.latest(), watches: view.watches() },
        },
        activity: activity.snapshot(),
        tunnels: forwarder.tunnels(),
        forwards: forwardStatuses(forwards),
      }));
    };
    const pages = localPages(index, {
      method: opts.method,
      hostPort: where,
      clusterDomain: opts.clusterDomain,
      cluster: `context ${target.context} at ${target.server}`,
      status,
      previous: () => previousPac.current(),
    });
    server.serve({
      dialer,
      admit: admissionCheck({
        allowFrom: opts.allowFrom,
        owner: opts.allowOtherUsers ? undefined : ownUserOnly(names.wanted),
      }),
      activity,
      pages: {
        ...pages,
        about: () => {
          names.read();
          return pages.about();
        },
      },
    });
    log.debug("Direct connections allowed: {policy}", { policy: describePolicy(opts.direct) });
    await unlessAborted(portForwardCheck, signal);
    forwards = await startConnectForwards(
      opts,
      { api, index, connector: dialer },
      undo,
      activity,
      names.wanted,
    );

    if (signal?.aborted) throw new StartAborted("stopped while starting");
    if (opts.setupGlobalProxy && deps.platform === "windows") {
      if (control.changed) control.changed.value = true;
      const applied = await sysproxy.setupGlobalProxy(
        { method: opts.method, address: opts.clientHost, port, proxyUrl },
        claim,
        deps,
        windowsUpstream?.config,
      );
      for (const line of applied.warnings) log.warn(line);
      undo.push(async () => {
        const report = await applied.restore();
        for (const line of report.lines) {
          // logtape's methods need their `this`: call them on the logger, never detached.
          if (report.ok) log.info(line);
          else log.warn(line);
        }
      });
      for (const line of applied.summary) log.info(line);
      log.info(upstreamLine);
      for (const f of forwards) log.info(f.line);
    } else if (opts.command) {
      // The command gets its variables itself: only what it will reach is printed.
      const lines = [
        `Proxy for ${opts.command[0]}: ${where}`,
        upstreamLine,
        ...forwards.map((f) => f.line),
      ];
      for (const line of framedBanner(lines)) log.info(line);
    } else {
      const shell = await detectShell(deps.runner);
      const lines = [
        ...bannerLines(opts.method, shell, opts.clientHost, port),
        upstreamLine,
        ...forwards.map((f) => `Forward: ${f.line}`),
      ];
      for (const line of framedBanner(lines)) log.info(line);
      if (opts.setupGlobalProxy) {
        log.info(
          "--setupGlobalProxy changes settings on Windows only; here, set the variables above " +
            "in each shell",
        );
      }
    }
    log.info("Live view: http://{where}/ (or run `ktctl status`)", { where });
    return {
      server,
      view,
      proxyUrl,
      activity,
      forwards,
      windowsUpstream,
      upstreamLine,
      stop: () => {
        // Connections cut from here on end normally: they are not failures.
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
 * The API server's round trip for the live view: a `GET /version`, measured when the figure is
 * asked for and older than 10 s, so nothing is sent while nobody looks.
 */
function apiRoundTrip(api: KubeApi): {
  latest(): { roundTripMs: number | null; checkedAt: number | null };
} {
  let roundTripMs: number | null = null, checkedAt: number | null = null, asking = false;
  return {
    latest() {
      if (!asking && (checkedAt === null || Date.now() - checkedAt > 10_000)) {
        asking = true;
        const t0 = performance.now();
        api.get("/version").then(
          () => roundTripMs = Math.round(performance.now() - t0),
          () => roundTripMs = null,
        ).finally(() => {
          checkedAt = Date.now();
          asking = false;
        });
      }
      return { roundTripMs, checkedAt };
    },
  };
}

/** `--forward`s on the proxy's address, through the proxy's cluster view and tunnels. */
async function startConnectForwards(
  opts: CompletedConnect,
  parts: Pick<ForwardContext, "api" | "index" | "connector">,
  undo: UndoStack,
  activity: Activity,
  namesWanted: () => boolean,
): Promise<RunningForwards["forwards"]> {
  if (!opts.forwards?.length) return [];
  const admit = opts.allowOtherUsers ? undefined : ownUserOnly(namesWanted);
  if (admit) undo.push(() => admit.close?.());
  const running = await startForwards(opts.forwards, {
    ...parts,
    namespace: opts.target.namespace,
    clusterDomain: opts.clusterDomain,
  }, {
    address: isLoopback(opts.clientHost) ? opts.clientHost : "127.0.0.1",
    admit,
    activity,
  });
  undo.push(() => running.close());
  return running.forwards;
}

/**
 * The upstream for destinations outside the cluster: `--upstreamProxy`, else the settings found
 * before ktctl changed anything (on Windows, read after a crashed predecessor was repaired), else
 * the environment's proxy variables. PAC files and WPAD are evaluated by Windows itself there,
 * elsewhere in a permission-less Worker.
 */
function chooseUpstream(
  opts: CompletedConnect,
  deps: sysproxy.SysProxyDeps,
  windowsUpstream: UpstreamFound | undefined,
  sources: UpstreamSources,
): { found: UpstreamFound; pacFactory: PacEvaluatorFactory } {
  const upstream = selectUpstream({
    flag: opts.upstream,
    system: opts.upstream ? undefined : windowsUpstream,
    env: (name) => Deno.env.get(name),
    self: { port: opts.port, address: opts.address },
  });
  for (const { variable, why, self } of upstream.ignored) {
    if (self) log.debug("Ignoring {variable}: {why}", { variable, why });
    else log.warn("Ignoring {variable}: {why}", { variable, why });
  }
  const windowsPac: PacEvaluatorFactory = (source) =>
    winHttpPacEvaluator({ pacUrl: source.url, autoDetect: source.autoDetect });
  return {
    found: upstream.found,
    pacFactory: sources.pacFactory ?? (deps.platform === "windows" ? windowsPac : portablePac),
  };
}

/** The Windows system proxy settings before ktctl (undefined elsewhere); logged once. */
function windowsPrevious(
  deps: sysproxy.SysProxyDeps,
  host: string,
  port: number,
): UpstreamFound | undefined {
  if (deps.platform !== "windows") return undefined;
  try {
    const found = readPreviousSettings(deps.windows, { host, port, pacUrl: pacUrl(host, port) });
    if (found.note) log.debug(found.note);
    log.info("Previous proxy settings ({source}): {upstream}", {
      source: found.source,
      upstream: describeUpstream(found.config),
    });
    return { config: found.config, source: found.source };
  } catch (e) {
    log.warn("Could not read the Windows proxy settings: {error}", { error: String(e) });
    return undefined;
  }
}

/**
 * One WRN line when the user's `no_proxy`/`NO_PROXY` would send cluster destinations around
 * ktctl: curl and Go then bypass the proxy for them and fail on the system DNS.
 */
function warnIfNoProxyCoversCluster(opts: CompletedConnect, index: ClusterIndex): void {
  const hits = noProxyCoveringCluster((name) => Deno.env.get(name), {
    domain: opts.clusterDomain,
    namespaces: index.namespaces(),
    ranges: index.clusterRanges(),
  });
  if (hits.length === 0) return;
  log.warn(
    "{variable} has {entries}: curl, Go and most tools will not send {covers} to ktctl",
    {
      variable: hits[0].variable,
      entries: hits.map((h) => `"${h.entry}"`).join(", "),
      covers: hits.map((h) => h.covers).join(", "),
    },
  );
}

/** The peer-owner check, or a UserError when this machine cannot tell who owns a socket. */
export function ownUserOnly(nameProgram?: () => boolean): AdmissionCheck {
  try {
    return peerOwnerCheck({ nameProgram });
  } catch (e) {
    throw new UserError(
      `cannot tell which local user a connection comes from (${(e as Error).message}): ` +
        `pass --allowOtherUsers to serve every program that can reach the port`,
    );
  }
}

function logConnected(opts: CompletedConnect, view: ClusterView, index: ClusterIndex): void {
  const { target } = opts;
  log.info(
    "Connected to {context} at {server}: {pods} pods and {services} services in {scope}; default namespace {ns}",
    {
      context: target.context,
      server: target.server,
      pods: index.count("pods"),
      services: index.count("services"),
      scope: view.scope.kind === "cluster"
        ? "all namespaces"
        : `namespace ${target.namespace} only`,
      ns: target.namespace,
    },
  );
  if (view.scope.kind === "namespace") {
    log.info("This user may not list cluster-wide: only namespace {ns} is reachable", {
      ns: target.namespace,
    });
  }
  const namespaces = index.namespaces();
  if (
    view.scope.kind === "cluster" && namespaces.length > 0 &&
    !namespaces.includes(target.namespace)
  ) {
    log.warn(
      "Namespace {ns} does not exist: short names will not resolve (namespaces: {seen})",
      { ns: target.namespace, seen: listSome(namespaces) },
    );
  }
  if (view.missing.includes("slices")) {
    log.warn("Cannot read endpointslices: services are routed by their selectors instead");
  }
  if (!isLoopback(opts.address)) {
    log.warn(
      "Listening on {addr}, not loopback: programs at {ranges} reach the cluster through it as you",
      { addr: opts.address, ranges: (opts.allowFrom ?? []).map(formatCidr).join(", ") },
    );
  }
}

/** `a, b, c` or `a, b, … (40 in all)`. */
function listSome(names: string[], max = 12): string {
  return names.length <= max
    ? names.join(", ")
    : `${names.slice(0, max).join(", ")}, … (${names.length} in all)`;
}

/**
 * Binds the port, wording failures with the flags that chose the address. When it is taken, a
 * live ktctl connect there gets named (through its claim); the leftovers of a dead one are
 * repaired on the way.
 */
async function listenOrExplain(
  opts: ConnectOptions,
  deps: sysproxy.SysProxyDeps,
): Promise<ProxyListener> {
  try {
    return ProxyListener.listen({
      hostname: opts.address,
      port: opts.port,
      maxConnections: opts.maxConnections,
    });
  } catch (e) {
    if (!(e instanceof ListenError)) throw e;
    if (opts.port !== 0) {
      const claim = await sysproxy.claimConnect({ address: opts.address, port: opts.port }, deps);
      for (const line of claim.repaired) log.info(line);
      await claim.release();
    }
    throw new UserError(
      e.kind === "in-use"
        ? `${e.message}: stop what listens there or pick another port with --proxyPort`
        : `${e.message}: check --proxyAddr and --proxyPort`,
    );
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
