/**
 * `deno run -A bench/heap_snapshot.ts`: where a running ktctl's memory goes, measured. Runs the
 * bundle as the executables run it (scripts/bundle.ts `SHIPPED_RUN_FLAGS`) with the inspector
 * on a loopback port, waits for its banner, makes the given connections, waits, takes a V8 heap
 * snapshot through the inspector's HeapProfiler and prints what holds the heap: self sizes by
 * node type and by constructor, strings, and the retained size of ktctl's cluster state
 * (ClusterIndex, OnDemand, Reflector, ...: what would be freed without it). RSS and the heap
 * figures are read at the same moment.
 *
 *   deno run -A bench/heap_snapshot.ts [-c KUBECONFIG] [-n NAMESPACE] [--dir CHECKOUT]
 *       [--entry BUNDLE] [--wait-s 5] [--connect host:port]... [--out FILE] [--analyze FILE]
 *
 * `--analyze FILE` prints the summary of a snapshot written before, without running ktctl.
 * @module
 */
import { parseArgs } from "node:util";
import { bundleKtctl, REPO_ROOT, SHIPPED_RUN_FLAGS } from "../scripts/bundle.ts";
import { freePort, memStatus, spawn } from "./procs.ts";
import { httpGet, socks5 } from "./clients.ts";
import { denoCacheDir } from "./sides.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    kubeconfig: { type: "string", short: "c" },
    namespace: { type: "string", short: "n", default: "default" },
    dir: { type: "string", default: REPO_ROOT },
    entry: { type: "string" },
    "wait-s": { type: "string", default: "5" },
    connect: { type: "string", multiple: true, default: [] },
    out: { type: "string" },
    analyze: { type: "string" },
    retain: { type: "string", multiple: true, default: [] },
    "no-snapshot": { type: "boolean", default: false },
  },
});

const RETAIN = [
  "ClusterIndex",
  "ClusterView",
  "OnDemand",
  "Reflector",
  "Lookup",
  "NodeRanges",
  ...values.retain,
];

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Summary lines of a heap snapshot. */
export function analyze(snap: Snapshot, retain: string[]): string[] {
  const out: string[] = [];
  const nf = snap.snapshot.meta.node_fields, ef = snap.snapshot.meta.edge_fields;
  const N = nf.length, E = ef.length;
  const iType = nf.indexOf("type"), iName = nf.indexOf("name"), iSize = nf.indexOf("self_size");
  const iEdges = nf.indexOf("edge_count");
  const eType = ef.indexOf("type"),
    eName = ef.indexOf("name_or_index"),
    eTo = ef.indexOf("to_node");
  const nodeTypes = snap.snapshot.meta.node_types[0], edgeTypes = snap.snapshot.meta.edge_types[0];
  const weak = edgeTypes.indexOf("weak"), shortcut = edgeTypes.indexOf("shortcut");
  const count = snap.nodes.length / N;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += snap.nodes[i * N + iEdges] * E;
    firstEdge[i + 1] = e;
  }
  const size = (i: number) => snap.nodes[i * N + iSize];
  const type = (i: number) => nodeTypes[snap.nodes[i * N + iType]];
  const name = (i: number) => snap.strings[snap.nodes[i * N + iName]];
  let total = 0;
  const byType = new Map<string, [number, number]>();
  const byCtor = new Map<string, [number, number]>();
  const strings = new Map<string, [number, number]>();
  for (let i = 0; i < count; i++) {
    const t = type(i), s = size(i);
    total += s;
    const bt = byType.get(t) ?? [0, 0];
    bt[0]++, bt[1] += s;
    byType.set(t, bt);
    if (t === "object" || t === "closure" || t === "array") {
      const k = `${t} ${name(i)}`;
      const bc = byCtor.get(k) ?? [0, 0];
      bc[0]++, bc[1] += s;
      byCtor.set(k, bc);
    }
    if (t === "string" || t === "concatenated string" || t === "sliced string") {
      const k = name(i).slice(0, 60);
      const st = strings.get(k) ?? [0, 0];
      st[0]++, st[1] += s;
      strings.set(k, st);
    }
  }
  const mbs = (b: number) => (b / 1e6).toFixed(2);
  out.push(`heap snapshot: ${count} nodes, ${mbs(total)} MB of self sizes`);
  const top = (m: Map<string, [number, number]>, n: number) =>
    [...m].sort((a, b) => b[1][1] - a[1][1]).slice(0, n);
  out.push("by type (count, MB):");
  for (const [k, [c, s]] of top(byType, 20)) {
    out.push(`  ${k.padEnd(22)} ${String(c).padStart(8)} ${mbs(s)}`);
  }
  out.push("by constructor (count, MB):");
  for (const [k, [c, s]] of top(byCtor, 30)) {
    out.push(`  ${k.slice(0, 50).padEnd(50)} ${String(c).padStart(8)} ${mbs(s)}`);
  }
  out.push("strings by value, top 25 (count, MB):");
  for (const [k, [c, s]] of top(strings, 25)) {
    out.push(`  ${JSON.stringify(k).slice(0, 62).padEnd(62)} ${String(c).padStart(8)} ${mbs(s)}`);
  }

  // Retained size of X: what is reachable from the root only through X.
  const reach = (blocked: Set<number>): Uint8Array => {
    const seen = new Uint8Array(count);
    const stack = [0];
    seen[0] = 1;
    while (stack.length) {
      const i = stack.pop()!;
      for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += E) {
        const t = snap.edges[e + eType];
        if (t === weak || t === shortcut) continue;
        const to = snap.edges[e + eTo] / N;
        if (seen[to] || blocked.has(to)) continue;
        seen[to] = 1;
        stack.push(to);
      }
    }
    return seen;
  };
  const all = reach(new Set());
  const retained = (nodes: number[]): { bytes: number; objects: number } => {
    const without = reach(new Set(nodes));
    let bytes = 0, objects = 0;
    for (let i = 0; i < count; i++) {
      if (all[i] && !without[i]) bytes += size(i), objects++;
    }
    return { bytes, objects };
  };
  const edgeName = (e: number) => {
    const t = edgeTypes[snap.edges[e + eType]];
    const v = snap.edges[e + eName];
    return t === "element" || t === "hidden" ? `[${v}]` : snap.strings[v];
  };
  out.push("retained (MB, objects):");
  for (const ctor of retain) {
    const instances: number[] = [];
    for (let i = 0; i < count; i++) if (type(i) === "object" && name(i) === ctor) instances.push(i);
    if (instances.length === 0) continue;
    const r = retained(instances);
    out.push(`  ${ctor} x${instances.length}: ${mbs(r.bytes)} MB, ${r.objects} objects`);
    if (instances.length > 3) continue;
    for (const inst of instances) {
      for (let e = firstEdge[inst]; e < firstEdge[inst + 1]; e += E) {
        const t = edgeTypes[snap.edges[e + eType]];
        if (t !== "property" && t !== "internal") continue;
        const to = snap.edges[e + eTo] / N;
        const rr = retained([to]);
        if (rr.bytes < 20_000) continue;
        out.push(
          `    .${edgeName(e)} (${type(to)} ${name(to).slice(0, 30)}): ${
            mbs(rr.bytes)
          } MB, ${rr.objects} objects`,
        );
      }
    }
  }
  return out;
}

async function takeSnapshot(inspectPort: number, file: string): Promise<void> {
  const list = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const f = await Deno.open(file, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let pending = Promise.resolve();
  const done = new Promise<void>((resolve, reject) => {
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data as string);
      if (msg.method === "HeapProfiler.addHeapSnapshotChunk") {
        const bytes = enc.encode(msg.params.chunk);
        pending = pending.then(async () => {
          let off = 0;
          while (off < bytes.length) off += await f.write(bytes.subarray(off));
        });
      } else if (msg.id === 3) {
        const u = msg.result ?? {};
        console.log(
          `V8 heap before the snapshot: used ${(u.usedSize / 1e6).toFixed(1)} MB, committed ${
            (u.totalSize / 1e6).toFixed(1)
          } MB, embedder ${((u.embedderHeapUsedSize ?? 0) / 1e6).toFixed(1)} MB, backing stores ${
            ((u.backingStorageSize ?? 0) / 1e6).toFixed(1)
          } MB`,
        );
      } else if (msg.id === 2) {
        if (msg.error) reject(new Error(JSON.stringify(msg.error)));
        else resolve();
      }
    };
  });
  ws.send(JSON.stringify({ id: 3, method: "Runtime.getHeapUsage" }));
  ws.send(JSON.stringify({ id: 1, method: "HeapProfiler.enable" }));
  ws.send(JSON.stringify({ id: 2, method: "HeapProfiler.takeHeapSnapshot", params: {} }));
  await done;
  await pending;
  f.close();
  ws.close();
}

async function main(): Promise<void> {
  if (values.analyze) {
    const snap = JSON.parse(await Deno.readTextFile(values.analyze)) as Snapshot;
    for (const line of analyze(snap, RETAIN)) console.log(line);
    return;
  }
  const kubeconfig = values.kubeconfig ?? Deno.env.get("KUBECONFIG");
  if (!kubeconfig) throw new Error("-c KUBECONFIG (or KUBECONFIG) is needed");
  const work = await Deno.makeTempDir({ prefix: "ktctl-heap-" });
  const entry = values.entry ?? `${work}/ktctl.js`;
  if (!values.entry) await bundleKtctl(entry, values.dir);
  const port = freePort(), inspectPort = freePort();
  const proc = spawn("ktctl", Deno.execPath(), [
    "run",
    ...SHIPPED_RUN_FLAGS,
    ...(values["no-snapshot"] ? [] : [`--inspect=127.0.0.1:${inspectPort}`]),
    entry,
    "connect",
    "-c",
    kubeconfig,
    "-n",
    values.namespace,
    "--proxyPort",
    String(port),
    "--dialDirect",
    "127.0.0.0/8,::1/128",
  ], { env: { HOME: work, DENO_DIR: await denoCacheDir(), NO_COLOR: "1" }, stopSignal: "SIGINT" });
  try {
    const t0 = performance.now();
    await proc.waitFor(/http_proxy=/, 5 * 60_000);
    console.log(`banner after ${(performance.now() - t0).toFixed(0)} ms`);
    for (const target of values.connect) {
      const i = target.lastIndexOf(":");
      const ms = await httpGet(
        socks5(port, target.slice(0, i), Number(target.slice(i + 1))),
        "x",
        20_000,
      )
        .catch((e) => `failed: ${e}`);
      console.log(`connect ${target}: ${ms}`);
    }
    for (const w of values["wait-s"].split(",")) {
      await new Promise((r) => setTimeout(r, Number(w) * 1000));
      const m = memStatus(proc.pid);
      console.log(`after ${w} s more: RSS ${(m.rss / 1e6).toFixed(1)} MB`);
    }
    const before = memStatus(proc.pid);
    const status = await Deno.readTextFile(`/proc/${proc.pid}/status`);
    const field = (k: string) =>
      /\d+/.exec(status.split("\n").find((l) => l.startsWith(k)) ?? "")?.[0];
    const stat = (await Deno.readTextFile(`/proc/${proc.pid}/stat`)).split(") ")[1].split(" ");
    console.log(
      `RSS_LINE rss_kb=${field("VmRSS")} anon_kb=${field("RssAnon")} file_kb=${field("RssFile")} ` +
        `hwm_kb=${field("VmHWM")} cpu_ticks=${Number(stat[11]) + Number(stat[12])}`,
    );
    if (values["no-snapshot"]) return;
    const file = values.out ?? `${work}/ktctl.heapsnapshot`;
    await takeSnapshot(inspectPort, file);
    const after = memStatus(proc.pid);
    console.log(
      `RSS before the snapshot ${(before.rss / 1e6).toFixed(1)} MB, after ${
        (after.rss / 1e6).toFixed(1)
      } MB; snapshot ${file}`,
    );
    const snap = JSON.parse(await Deno.readTextFile(file)) as Snapshot;
    for (const line of analyze(snap, RETAIN)) console.log(line);
  } finally {
    await proc.stop();
  }
}

if (import.meta.main) await main();
