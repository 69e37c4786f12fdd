/**
 * A small in-process Kubernetes API server for integration tests: list and watch of pods,
 * services and endpointslices, SelfSubjectAccessReview, bearer-token authentication with
 * per-token namespace limits, and the `v4.channel.k8s.io` port-forward WebSocket, wired to
 * loopback TCP servers that stand in for pod ports.
 *
 * It exists for faults the real API server cannot produce on demand (error-channel messages,
 * abrupt closes, a stalled stream, 401/403 at will); the end-to-end suite uses the real one.
 * @module
 */
import { PROTOBUF } from "../src/kube/protobuf.ts";
import {
  encodeNodeList,
  encodePodList,
  encodeServiceList,
  encodeStatus,
  type NodeJson,
  type PodJson,
  type ServiceJson,
} from "./k8s_protobuf.ts";
import { writeAll } from "../src/net/io.ts";

export interface FakePortBehaviour {
  /** Where the pod port is really served (a loopback TCP port). */
  target?: number;
  /** Send this text on the error channel instead of connecting (like a refused port). */
  errorText?: string;
  /** Close the WebSocket abruptly after this many bytes from the pod. */
  cutAfterBytes?: number;
  /** Wait this long after the port prefix before dialling the pod (a slow kubelet). */
  dialDelayMs?: number;
}

export interface FakeToken {
  /** Namespaces this token may read; undefined means all (cluster-wide). */
  namespaces?: string[];
  /** Whether SelfSubjectAccessReview for pods/portforward says allowed. */
  portForward?: boolean;
  /** false: nodes are forbidden even to a cluster-wide token (as to the `view` role). */
  nodes?: boolean;
}

type Kind = "pods" | "services" | "endpointslices" | "nodes";
interface Stored {
  kind: Kind;
  object: Record<string, unknown>;
}

/** One change, kept so that a watch from an older resource version can be replayed. */
interface Change {
  version: number;
  kind: Kind;
  /** The object before and after the change (undefined: not there). */
  before?: Json;
  after?: Json;
}

/** A list or watch as asked for: which objects it selects. */
interface Selection {
  kind: Kind;
  namespace?: string;
  labels: [string, string][];
  fields: [string, string][];
}

type Json = Record<string, unknown>;

export class FakeApiServer {
  #server: Deno.HttpServer<Deno.NetAddr>;
  #objects = new Map<string, Stored>();
  #version = 100;
  #watchers = new Set<
    { sel: Selection; send: (line: string) => void; close: () => void; stalled: boolean }
  >();
  #history: Change[] = [];
  /** Watches from resource versions below this get 410 Gone (history compacted). */
  #compactedBelow = 0;
  /** Requests seen, as "list pods", "watch services", "get pods" ... with the query. */
  readonly requests: string[] = [];
  /** The next this-many continued list pages answer 410 (the continue token expired). */
  expireContinues = 0;
  /**
   * Answer service, node and pod lists (and their errors) in protobuf to clients that offer it, as the real
   * API server does; off by default, like a server or proxy that speaks JSON only.
   */
  protobuf = false;
  #sockets = new Set<WebSocket>();
  /** Per pod ("ns/name") and port: how the port-forward behaves. */
  readonly ports = new Map<string, FakePortBehaviour>();
  readonly tokens = new Map<string, FakeToken>([["admin-token", {}]]);
  /** Port-forward requests seen, as "ns/pod:port". */
  readonly forwards: string[] = [];
  /** The WebSocket subprotocols each port-forward request offered (this fake speaks v4 only). */
  readonly offered: string[] = [];
  /** Bytes the fake pushed into port-forward sockets and how many the client had not taken. */
  readonly pushed = { bytes: 0 };

  /**
   * Plain HTTP by default. With `tls` it serves HTTPS with that certificate; its kubeconfig
   * skips verification: API calls go through undici, port-forwards through the node:tls adapter.
   */
  constructor(readonly tls?: { cert: string; key: string }) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {}, ...tls },
      (req) => this.#handle(req),
    );
  }

  get url(): string {
    return `${this.tls ? "https" : "http"}://127.0.0.1:${this.#server.addr.port}`;
  }

  /** A kubeconfig for this server (TLS verification skipped: plain HTTP, or a throwaway cert). */
  kubeconfig(token = "admin-token", namespace = "default"): string {
    return JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "fake", cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "fake-user", user: { token } }],
      contexts: [{ name: "fake", context: { cluster: "fake", user: "fake-user", namespace } }],
      "current-context": "fake",
    });
  }

  /** Adds or replaces an object and tells watchers. */
  apply(kind: Kind, object: Record<string, unknown>): void {
    const meta = object.metadata as Record<string, unknown>;
    const key = `${kind}/${meta.namespace}/${meta.name}`;
    const old = this.#objects.get(key)?.object;
    meta.uid ??= (old?.metadata as Json | undefined)?.uid ?? crypto.randomUUID();
    meta.resourceVersion = String(++this.#version);
    this.#objects.set(key, { kind, object: structuredClone(object) });
    this.#notify(kind, old, structuredClone(object));
  }

  delete(kind: Kind, namespace: string, name: string): void {
    const key = `${kind}/${namespace}/${name}`;
    const stored = this.#objects.get(key);
    if (!stored) return;
    this.#objects.delete(key);
    (stored.object.metadata as Record<string, unknown>).resourceVersion = String(++this.#version);
    this.#notify(kind, stored.object, undefined);
  }

  /** How many watch streams of `kind` are open. */
  watching(kind: Kind): number {
    return [...this.#watchers].filter((w) => w.sel.kind === kind).length;
  }

  /** Ends every watch stream, as an API server restart would. */
  dropWatches(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers.clear();
  }

  /**
   * The open watch streams stop carrying anything, without closing (a path gone silent); new
   * requests are served as usual.
   */
  stallWatches(): void {
    for (const w of this.#watchers) w.stalled = true;
  }

  /** Forgets the history: watches from versions before the current one get 410 Gone. */
  compact(): void {
    this.#compactedBelow = this.#version;
    this.#history = [];
  }

  /** How many requests of one sort ("list pods", "watch endpointslices", ...) were made. */
  count(what: string): number {
    return this.requests.filter((r) => r.startsWith(`${what} `) || r === what).length;
  }

  async close(): Promise<void> {
    this.dropWatches();
    for (const s of this.#sockets) s.close();
    await this.#server.shutdown();
  }

  /** Tells each watcher what the change means for its selection (as the watch cache does). */
  #notify(kind: Kind, before: Json | undefined, after: Json | undefined): void {
    const change = { version: this.#version, kind, before, after };
    this.#history.push(change);
    for (const w of this.#watchers) {
      if (w.stalled) continue;
      const line = eventFor(w.sel, change);
      if (line) w.send(line);
    }
  }

  #handle(req: Request): Response {
    const url = new URL(req.url);
    const auth = req.headers.get("authorization") ?? "";
    const token = this.tokens.get(auth.replace(/^Bearer /, ""));
    if (!auth.startsWith("Bearer ") || !token) return status(401, "Unauthorized");
    const path = url.pathname;
    if (path === "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") {
      return Response.json({ status: { allowed: token.portForward !== false } }, { status: 201 });
    }
    const pf = path.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/);
    if (pf) return this.#portForward(req, token, pf[1], pf[2], url.searchParams.get("ports") ?? "");
    const m = path.match(
      /^\/(?:api\/v1|apis\/discovery\.k8s\.io\/v1)(?:\/namespaces\/([^/]+))?\/(pods|services|endpointslices|nodes)(?:\/([^/]+))?$/,
    );
    if (!m) return status(404, `no route for ${path}`);
    const namespace = m[1];
    const kind = m[2] as Kind;
    const q = url.searchParams;
    const verb = m[3] ? "get" : q.get("watch") === "true" ? "watch" : "list";
    this.requests.push(`${verb} ${kind}${namespace ? ` in ${namespace}` : ""} ${q}`);
    const proto = this.protobuf && kind !== "endpointslices" && verb === "list" &&
      (req.headers.get("accept") ?? "").includes(PROTOBUF);
    if (
      (token.namespaces && (namespace === undefined || !token.namespaces.includes(namespace))) ||
      (kind === "nodes" && token.nodes === false)
    ) {
      const message = `${kind} is forbidden: cannot ${verb} ${kind} at the cluster scope`;
      return proto ? protobufStatus(403, message) : status(403, message);
    }
    if (m[3]) {
      const stored = this.#objects.get(`${kind}/${namespace}/${m[3]}`);
      return stored ? Response.json(stored.object) : status(404, `${kind} "${m[3]}" not found`);
    }
    const sel: Selection = {
      kind,
      namespace,
      labels: pairs(q.get("labelSelector")),
      fields: pairs(q.get("fieldSelector")),
    };
    if (verb === "watch") return this.#watch(sel, Number(q.get("resourceVersion") ?? "0"));
    return this.#list(sel, Number(q.get("limit") ?? "0"), q.get("continue"), proto);
  }

  /** A list page: `continue` is "<offset>:<version>" of the first page's snapshot. */
  #list(sel: Selection, limit: number, token: string | null, proto: boolean): Response {
    if (token && this.expireContinues > 0) {
      this.expireContinues--;
      const message = "The provided continue parameter is too old";
      return proto ? protobufStatus(410, message) : status(410, message);
    }
    const [offset, version] = token ? token.split(":").map(Number) : [0, this.#version];
    const all = [...this.#objects.values()]
      .filter((s) => selects(sel, s.kind, s.object))
      .map((s) => s.object)
      .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    const items = limit > 0 ? all.slice(offset, offset + limit) : all;
    const more = limit > 0 && offset + limit < all.length;
    if (proto) {
      const meta = {
        resourceVersion: String(version),
        continue: more ? `${offset + limit}:${version}` : "",
        ...(more ? { remainingItemCount: all.length - offset - limit } : {}),
      };
      const body = sel.kind === "nodes"
        ? encodeNodeList(items as unknown as NodeJson[], meta)
        : sel.kind === "pods"
        ? encodePodList(items as unknown as PodJson[], meta)
        : encodeServiceList(items as unknown as ServiceJson[], meta);
      return new Response(body, { headers: { "content-type": PROTOBUF } });
    }
    return Response.json({
      kind: "List",
      apiVersion: "v1",
      metadata: {
        resourceVersion: String(version),
        ...(more
          ? {
            continue: `${offset + limit}:${version}`,
            remainingItemCount: all.length - offset - limit,
          }
          : {}),
      },
      items,
    });
  }

  #watch(sel: Selection, from: number): Response {
    if (from > 0 && from < this.#compactedBelow) {
      return new Response(
        JSON.stringify({
          type: "ERROR",
          object: { kind: "Status", code: 410, message: "too old resource version" },
        }) + "\n",
        { headers: { "content-type": "application/json" } },
      );
    }
    const encoder = new TextEncoder();
    let watcher: {
      sel: Selection;
      send: (line: string) => void;
      close: () => void;
      stalled: boolean;
    };
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        watcher = {
          sel,
          stalled: false,
          send: (line) => controller.enqueue(encoder.encode(line)),
          close: () => {
            try {
              controller.close();
            } catch { /* already closed */ }
          },
        };
        // What changed since `from`, replayed: each object from its state then to its last.
        const net = new Map<string, Change>();
        for (const c of this.#history) {
          if (from === 0 || c.version <= from || c.kind !== sel.kind) continue;
          const k = keyOf((c.after ?? c.before)!);
          const first = net.get(k);
          net.set(k, { ...c, before: first ? first.before : c.before });
        }
        for (const c of net.values()) {
          const line = eventFor(sel, c);
          if (line) watcher.send(line);
        }
        this.#watchers.add(watcher);
      },
      cancel: () => {
        this.#watchers.delete(watcher);
      },
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  }

  #portForward(req: Request, token: FakeToken, ns: string, pod: string, ports: string): Response {
    this.offered.push(req.headers.get("sec-websocket-protocol") ?? "");
    if (token.portForward === false) return status(403, "pods/portforward is forbidden");
    if (!this.#objects.has(`pods/${ns}/${pod}`)) return status(404, `pods "${pod}" not found`);
    const port = Number(ports);
    if (!/^\d+$/.test(ports) || port < 1 || port > 65535) return status(400, "invalid port");
    const protocols = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((s) =>
      s.trim()
    );
    if (!protocols.includes("v4.channel.k8s.io")) return status(400, "unsupported subprotocol");
    this.forwards.push(`${ns}/${pod}:${port}`);
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "v4.channel.k8s.io" });
    socket.binaryType = "arraybuffer";
    this.#sockets.add(socket);
    socket.onclose = () => this.#sockets.delete(socket);
    socket.onopen = () => this.#serveForward(socket, this.ports.get(`${ns}/${pod}:${port}`), port);
    return response;
  }

  async #serveForward(ws: WebSocket, behaviour: FakePortBehaviour | undefined, port: number) {
    // Listen at once: the client may send as soon as it sees the port prefix, before the dial
    // below has finished, and a message event with no listener yet is lost for good. (A real
    // kubelet leaves such bytes in its socket until the pod connection is up.)
    const early: Uint8Array[] = [];
    let toPod = (data: Uint8Array) => void early.push(data);
    ws.onmessage = (ev) => {
      const data = new Uint8Array(ev.data as ArrayBuffer);
      if (data[0] === 0) toPod(data.subarray(1));
    };
    const prefix = [port & 0xff, port >> 8];
    ws.send(new Uint8Array([0, ...prefix]));
    ws.send(new Uint8Array([1, ...prefix]));
    if (!behaviour?.target) {
      const text = behaviour?.errorText ??
        `error forwarding port ${port} to pod fake, uid : failed to connect to localhost:${port}: connection refused`;
      ws.send(new Uint8Array([1, ...new TextEncoder().encode(text)]));
      ws.close(1000);
      return;
    }
    if (behaviour.dialDelayMs) await new Promise((r) => setTimeout(r, behaviour.dialDelayMs));
    let conn: Deno.Conn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port: behaviour.target });
    } catch (e) {
      ws.send(new Uint8Array([1, ...new TextEncoder().encode(String(e))]));
      ws.close(1000);
      return;
    }
    // Writes to the pod keep their order: each starts after the previous one finished.
    let writing = Promise.resolve();
    toPod = (data) => {
      writing = writing.then(() => writeAll(conn, data)).catch(() => {/* pod side gone */});
    };
    for (const data of early.splice(0)) toPod(data);
    ws.onclose = () => {
      try {
        conn.close();
      } catch { /* closed */ }
    };
    const buf = new Uint8Array(64 * 1024);
    let total = 0;
    try {
      while (true) {
        const n = await conn.read(buf.subarray(1));
        if (n === null) break;
        total += n;
        if (behaviour.cutAfterBytes !== undefined && total > behaviour.cutAfterBytes) {
          // An abrupt end: the TCP connection under the WebSocket is dropped without a close frame.
          ws.close(1011, "cut");
          break;
        }
        ws.send(buf.slice(0, n + 1));
        this.pushed.bytes += n;
        // Crude flow control, as Deno's server WebSocket has none: wait while much is unsent.
        while (ws.bufferedAmount > 8 * 1024 * 1024 && ws.readyState === WebSocket.OPEN) {
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    } catch { /* closed */ }
    // The runtime closes the stream shortly after the pod side ends.
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** "a=b,c=d" → [["a","b"],["c","d"]] (equality terms only, which is all ktctl sends). */
function pairs(text: string | null): [string, string][] {
  if (!text) return [];
  return text.split(",").map((t) => {
    const i = t.indexOf("=");
    return [t.slice(0, i), t.slice(i + 1).replace(/^=/, "")];
  });
}

function keyOf(o: Json): string {
  const meta = o.metadata as Json;
  return `${meta.namespace}/${meta.name}`;
}

function fieldOf(o: Json, path: string): string {
  let v: unknown = o;
  for (const part of path.split(".")) v = (v as Json | undefined)?.[part];
  return typeof v === "string" ? v : "";
}

function selects(sel: Selection, kind: Kind, o: Json | undefined): boolean {
  if (!o || kind !== sel.kind) return false;
  const meta = o.metadata as Json;
  if (sel.namespace !== undefined && meta.namespace !== sel.namespace) return false;
  const labels = (meta.labels ?? {}) as Record<string, string>;
  return sel.labels.every(([k, v]) => labels[k] === v) &&
    sel.fields.every(([k, v]) => fieldOf(o, k) === v);
}

/**
 * The watch event a change means for one selection: ADDED when the object enters it, MODIFIED
 * while in it, DELETED when it leaves (deleted or no longer selected), nothing otherwise.
 */
function eventFor(sel: Selection, c: Change): string | undefined {
  const was = selects(sel, c.kind, c.before), is = selects(sel, c.kind, c.after);
  const type = was && is ? "MODIFIED" : is ? "ADDED" : was ? "DELETED" : undefined;
  if (!type) return undefined;
  const object = is ? c.after! : { ...c.before!, metadata: { ...(c.before!.metadata as Json) } };
  if (!is && c.after) {
    (object.metadata as Json).resourceVersion = (c.after.metadata as Json).resourceVersion;
  }
  return JSON.stringify({ type, object }) + "\n";
}

function protobufStatus(code: number, message: string): Response {
  return new Response(encodeStatus(message, code), {
    status: code,
    headers: { "content-type": PROTOBUF },
  });
}

function status(code: number, message: string): Response {
  return Response.json({ kind: "Status", apiVersion: "v1", status: "Failure", message, code }, {
    status: code,
  });
}

/** Builds API objects in the shapes the real API server returns. */
export const build = {
  pod(
    ns: string,
    name: string,
    ip: string,
    opts: {
      ready?: boolean;
      labels?: Record<string, string>;
      ports?: { name?: string; containerPort: number }[];
      nodeName?: string;
    } = {},
  ) {
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: ns, name, labels: opts.labels ?? { app: name } },
      spec: {
        containers: [{ name: "c", ports: opts.ports ?? [] }],
        ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
      },
      status: {
        phase: "Running",
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [{ type: "Ready", status: opts.ready === false ? "False" : "True" }],
      },
    };
  },
  /** A node with pod ranges (none: its pods get addresses from elsewhere). */
  node(name: string, podCIDRs: string[]) {
    return {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name },
      spec: podCIDRs.length > 0 ? { podCIDR: podCIDRs[0], podCIDRs } : {},
      status: { conditions: [{ type: "Ready", status: "True" }] },
    };
  },
  service(
    ns: string,
    name: string,
    clusterIP: string,
    ports: { name?: string; port: number; targetPort?: number | string }[],
    selector: Record<string, string>,
  ) {
    return {
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: ns, name },
      spec: {
        type: "ClusterIP",
        clusterIP,
        clusterIPs: [clusterIP],
        selector,
        // The API server defaults targetPort to the port.
        ports: ports.map((p) => ({ protocol: "TCP", targetPort: p.port, ...p })),
      },
    };
  },
  slice(
    ns: string,
    service: string,
    ports: { name?: string; port: number }[],
    endpoints: { pod: string; ip: string; ready?: boolean; hostname?: string }[],
  ) {
    return {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        namespace: ns,
        name: `${service}-abcde`,
        labels: { "kubernetes.io/service-name": service },
      },
      addressType: "IPv4",
      ports: ports.map((p) => ({ protocol: "TCP", ...p })),
      endpoints: endpoints.map((e) => ({
        addresses: [e.ip],
        conditions: { ready: e.ready !== false, serving: true, terminating: false },
        hostname: e.hostname,
        targetRef: { kind: "Pod", namespace: ns, name: e.pod },
      })),
    };
  },
};

/** One pod `demo/web-1` (10.244.0.11) serving 8080 at `target`, behind service `web` (80). */
export function applyOneWebPod(api: FakeApiServer, target: number): void {
  api.apply("pods", build.pod("demo", "web-1", "10.244.0.11", { labels: { app: "web" } }));
  api.ports.set("demo/web-1:8080", { target });
  api.apply(
    "services",
    build.service("demo", "web", "10.96.0.10", [{ port: 80, targetPort: 8080 }], { app: "web" }),
  );
  api.apply(
    "endpointslices",
    build.slice("demo", "web", [{ port: 8080 }], [{ pod: "web-1", ip: "10.244.0.11" }]),
  );
}
