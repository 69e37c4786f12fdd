/**
 * `ktctl status [--json]`: the ktctl processes of this user on this machine, found from their
 * state files (`~/.ktctl/connect-*.json`, which every running connect holds, and every
 * `ktctl forward` for its status port: claim.ts), each asked for its `/api/status` on its own
 * loopback port. A process that is gone but left global settings applied is listed with the
 * hint to run `ktctl clean`; one that is gone (or whose pid another program now has) and left
 * nothing applied is not listed: there is nothing to do about it. Exit 0 when one runs, else 1.
 * @module
 */
import * as sysproxy from "../sysproxy/mod.ts";
import { ownerStatus } from "../sysproxy/liveness.ts";
import { isStateFileName, joinPath, parseState, stateDir } from "../sysproxy/state_file.ts";
import { clientHost, hostPort } from "../net/client_address.ts";
import { closeQuietly, writeAll } from "../net/io.ts";
import { type ForwardSummary, parseStatus, type StatusSummary } from "./status_model.ts";

export const STATUS_LIST_SCHEMA = "ktctl-status-list";

/** One process as `ktctl status` reports it. */
export interface ProcessEntry {
  /** Where clients reach it, `127.0.0.1:2223`. */
  address: string;
  pid: number;
  /** running: alive and answered; unreachable: alive, no status; dead; unknown: cannot tell. */
  state: "running" | "unreachable" | "dead" | "unknown";
  /** Global settings recorded in its state file (still applied when it is dead). */
  settingsApplied: boolean;
  startedAt: string;
  status?: StatusSummary;
  /** What to do about it, when anything. */
  hint?: string;
  stateFile: string;
}

export interface StatusDeps {
  sys: sysproxy.SysProxyDeps;
  /** GET `/api/status` from `host:port`; the body, or undefined. */
  fetchStatus(host: string, port: number): Promise<string | undefined>;
}

export async function listProcesses(deps: StatusDeps): Promise<ProcessEntry[]> {
  const { sys } = deps;
  const dir = stateDir(sys.home, sys.platform);
  const entries: ProcessEntry[] = [];
  for (const name of await sys.fs.list(dir)) {
    if (!isStateFileName(name)) continue;
    const path = joinPath(sys.platform, dir, name);
    const text = await sys.fs.read(path).catch(() => undefined);
    if (text === undefined) continue;
    const parsed = parseState(text);
    if (parsed.kind !== "ok") continue;
    const r = parsed.record;
    const host = clientHost(r.address);
    const entry: ProcessEntry = {
      address: hostPort(host, r.port),
      pid: r.pid,
      state: "unknown",
      settingsApplied: r.values.length > 0,
      startedAt: r.createdAt,
      stateFile: path,
    };
    const owner = await ownerStatus(r, sys.process);
    if (owner.state === "dead") {
      if (!entry.settingsApplied) continue;
      entry.state = "dead";
      entry.hint =
        "it has stopped, but the proxy settings it set are still applied: run `ktctl clean`";
    } else if (owner.state === "alive") {
      const body = await deps.fetchStatus(host, r.port);
      const status = body === undefined ? undefined : parseStatus(body);
      entry.state = status ? "running" : "unreachable";
      if (status) entry.status = status;
      else entry.hint = `it runs but did not answer on http://${entry.address}/api/status`;
    } else entry.hint = `cannot tell whether pid ${r.pid} still runs (${owner.why})`;
    entries.push(entry);
  }
  return entries;
}

/** The lines `ktctl status` prints for `entries`. */
export function formatProcesses(entries: ProcessEntry[]): string[] {
  if (entries.length === 0) return ["No ktctl is running for this user"];
  const lines: string[] = [];
  for (const e of entries) {
    const s = e.status;
    if (s) {
      // A forward has no proxy mode: its address is the live view's.
      const what = s.command === "forward" ? "live view" : `${s.mode} mode`;
      lines.push(
        `ktctl ${s.command} on ${e.address} (pid ${e.pid}): ${what}, context ${s.context} ` +
          `at ${s.server}, up ${formatUptime(s.uptimeSeconds)}`,
        `  last minute: ${plural(s.lastMinute.connections, "connection")}, ` +
          `${plural(s.lastMinute.failures, "failure")}; ${s.open} open now` +
          (s.forwards > 0 ? `; ${plural(s.forwards, "forward")}` : ""),
        `  global settings: ${s.globalSettingsApplied ? "applied" : "not applied"}; ` +
          `live view: http://${e.address}/`,
        ...s.forwardList.map(formatForward),
      );
    } else {
      const what = e.state === "dead" ? "not running" : e.state === "unreachable" ? "running" : "?";
      lines.push(`ktctl on ${e.address} (pid ${e.pid}): ${what}`);
      lines.push(`  global settings: ${e.settingsApplied ? "applied" : "not applied"}`);
    }
    if (e.hint) lines.push(`  ${e.hint}`);
  }
  return lines;
}

export async function runStatus(
  flags: { json: boolean },
  deps: StatusDeps = { sys: sysproxy.defaultDeps(), fetchStatus: fetchOwnStatus },
  print: (line: string) => void = (line) => console.log(line),
): Promise<number> {
  const entries = await listProcesses(deps);
  if (flags.json) {
    print(JSON.stringify({ schema: STATUS_LIST_SCHEMA, version: 1, processes: entries }, null, 2));
  } else {
    for (const line of formatProcesses(entries)) print(line);
  }
  return entries.some((e) => e.state === "running" || e.state === "unreachable") ? 0 : 1;
}

/** `  forward 127.0.0.1:6379 → service demo/redis:6379: listening, 1 open, 4 in all, ...`. */
function formatForward(f: ForwardSummary): string {
  return `  forward ${f.local} → ${f.target}: ${f.state}, ${f.connections} open, ` +
    `${f.totalConnections} in all, ${plural(f.failures, "failure")}` +
    (f.lastFailure ? ` (last: ${f.lastFailure})` : "");
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function formatUptime(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * GET /api/status over a plain TCP connection to loopback: no proxy variable applies (one may
 * point at ktctl itself), and the answer is capped at 4 MiB and 3 s.
 */
export async function fetchOwnStatus(host: string, port: number): Promise<string | undefined> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn && closeQuietly(conn), 3000);
  try {
    conn = await Deno.connect({ hostname: host, port });
    const authority = hostPort(host, port);
    await writeAll(
      conn,
      new TextEncoder().encode(
        `GET /api/status HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const chunks: Uint8Array[] = [];
    let size = 0;
    const buf = new Uint8Array(64 * 1024);
    while (size < 4 * 1024 * 1024) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      size += n;
    }
    const all = new Uint8Array(size);
    let off = 0;
    for (const c of chunks) [all.set(c, off), off += c.length];
    const text = new TextDecoder().decode(all);
    const end = text.indexOf("\r\n\r\n");
    if (end < 0 || !/^HTTP\/1\.[01] 200 /.test(text)) return undefined;
    return text.slice(end + 4);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    if (conn) closeQuietly(conn);
  }
}
