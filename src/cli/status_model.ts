/**
 * The live view's data, `/api/status` (schema `ktctl-status`, version 1; docs/status-api.md):
 * what a running ktctl is connected to, its connections now, its last failures, its tunnels and
 * forwards. Built from plain inputs by {@link buildStatus} (pure), read back by `ktctl status`
 * with {@link parseStatus}, which trusts nothing it did not check. New fields may be added
 * within a version; a field is never removed or changes meaning without a new version.
 * @module
 */
import type { ActivitySnapshot, ConnectionRecord, FailureRecord } from "../front/activity.ts";
import type { ForwardStatus } from "../forward/start.ts";

export const STATUS_SCHEMA = "ktctl-status";
export const STATUS_VERSION = 1;

/** An open connection as the JSON shows it: times as ISO strings, with its age. */
export type ConnectionStatus = Omit<ConnectionRecord, "startedAt"> & {
  startedAt: string;
  ageSeconds: number;
};

/** A failure as the JSON shows it: its time as an ISO string. */
export type FailureStatus = Omit<FailureRecord, "at"> & { at: string };

export interface WatchStatus {
  path: string;
  up: boolean;
  lastEventAt: string | null;
  /** How often the watch was opened: 1 + its reconnects. */
  opened: number;
}

/** A forward's port (`ktctl forward`, `connect --forward`): its address, target and counts. */
export type { ForwardStatus };

export interface TunnelStatus {
  mode: "multiplexed" | "websocket";
  /** Why each connection uses its own WebSocket, when the API server refused the tunnel. */
  fellBack: string | null;
  pods: { pod: string; sessions: number; connections: number }[];
}

export interface StatusV1 {
  schema: typeof STATUS_SCHEMA;
  version: typeof STATUS_VERSION;
  generatedAt: string;
  ktctl: { version: string; pid: number; command: string };
  session: {
    context: string;
    server: string;
    namespace: string;
    mode: string;
    /** Where clients reach ktctl, `127.0.0.1:2223`. */
    address: string;
    proxyUrl: string;
    pacUrl: string;
    startedAt: string;
    uptimeSeconds: number;
    globalSettings: { applied: boolean; values: { name: string; value: string }[] };
    /** The company proxy ktctl sends non-cluster traffic to, if any. */
    upstreamProxy: string | null;
    scope: "cluster" | "namespace";
    namespaces: string[];
    api: {
      roundTripMs: number | null;
      checkedAt: string | null;
      watchesHealthy: boolean;
      watches: WatchStatus[];
    };
  };
  traffic: {
    open: number;
    lastMinute: { connections: number; failures: number };
    total: { connections: number; failures: number; sentBytes: number; receivedBytes: number };
    perMinute: {
      minute: string;
      connections: number;
      failures: number;
      sentBytes: number;
      receivedBytes: number;
    }[];
  };
  connections: { open: number; shown: number; items: ConnectionStatus[] };
  failures: FailureStatus[];
  tunnels: TunnelStatus;
  forwards: ForwardStatus[];
}

/** Everything {@link buildStatus} reads; times are epoch ms. */
export interface StatusInputs {
  now: number;
  version: string;
  pid: number;
  command: string;
  session:
    & Omit<
      StatusV1["session"],
      "startedAt" | "uptimeSeconds" | "api"
    >
    & {
      startedAt: number;
      api: {
        roundTripMs: number | null;
        checkedAt: number | null;
        watches: { path: string; up: boolean; lastEventAt: number | null; opened: number }[];
      };
    };
  activity: ActivitySnapshot;
  tunnels: TunnelStatus;
  forwards: ForwardStatus[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function buildStatus(i: StatusInputs): StatusV1 {
  const { session: s, activity: a } = i;
  return {
    schema: STATUS_SCHEMA,
    version: STATUS_VERSION,
    generatedAt: iso(i.now),
    ktctl: { version: i.version, pid: i.pid, command: i.command },
    session: {
      ...s,
      startedAt: iso(s.startedAt),
      uptimeSeconds: Math.max(0, Math.floor((i.now - s.startedAt) / 1000)),
      api: {
        roundTripMs: s.api.roundTripMs,
        checkedAt: s.api.checkedAt === null ? null : iso(s.api.checkedAt),
        watchesHealthy: s.api.watches.every((w) => w.up),
        watches: s.api.watches.map((w) => ({
          ...w,
          lastEventAt: w.lastEventAt === null ? null : iso(w.lastEventAt),
        })),
      },
    },
    traffic: {
      open: a.open,
      lastMinute: a.lastMinute,
      total: a.total,
      perMinute: a.minutes.map((m) => ({ ...m, minute: iso(m.minute) })),
    },
    connections: {
      open: a.open,
      shown: a.connections.length,
      items: a.connections.map((c) => ({
        ...c,
        startedAt: iso(c.startedAt),
        ageSeconds: Math.max(0, Math.floor((i.now - c.startedAt) / 1000)),
      })),
    },
    failures: a.failures.map((f) => ({ ...f, at: iso(f.at) })),
    tunnels: i.tunnels,
    forwards: i.forwards,
  };
}

/**
 * The parts of a status document `ktctl status` prints, checked: what another process answered
 * on a loopback port is untrusted. Undefined when it is not a version-1 status document.
 */
export interface StatusSummary {
  command: string;
  mode: string;
  context: string;
  server: string;
  address: string;
  uptimeSeconds: number;
  open: number;
  lastMinute: { connections: number; failures: number };
  globalSettingsApplied: boolean;
  forwards: number;
  /** The forwards themselves (at most 100), each checked; those that do not check are left out. */
  forwardList: ForwardSummary[];
}

/** One forward as `ktctl status` prints it: the last failure by its sentence only. */
export type ForwardSummary = Omit<ForwardStatus, "lastFailure"> & {
  /** The last failure's sentence, when there was one. */
  lastFailure: string | null;
};

export function parseStatus(text: string): StatusSummary | undefined {
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch {
    return undefined;
  }
  const o = d as Partial<StatusV1>;
  if (
    typeof d !== "object" || d === null || o.schema !== STATUS_SCHEMA ||
    o.version !== STATUS_VERSION
  ) return undefined;
  const s = o.session, t = o.traffic;
  const fields = {
    command: str(o.ktctl?.command),
    mode: str(s?.mode),
    context: str(s?.context),
    server: str(s?.server),
    address: str(s?.address),
    uptimeSeconds: num(s?.uptimeSeconds),
    open: num(t?.open),
    connections: num(t?.lastMinute?.connections),
    failures: num(t?.lastMinute?.failures),
    applied: typeof s?.globalSettings?.applied === "boolean" ? s.globalSettings.applied : undefined,
  };
  if (Object.values(fields).some((v) => v === undefined)) return undefined;
  return {
    command: fields.command!,
    mode: fields.mode!,
    context: fields.context!,
    server: fields.server!,
    address: fields.address!,
    uptimeSeconds: fields.uptimeSeconds!,
    open: fields.open!,
    lastMinute: { connections: fields.connections!, failures: fields.failures! },
    globalSettingsApplied: fields.applied!,
    forwards: Array.isArray(o.forwards) ? o.forwards.length : 0,
    forwardList: Array.isArray(o.forwards)
      ? o.forwards.slice(0, 100).map(parseForward).filter((f) => f !== undefined)
      : [],
  };
}

// Printed to a terminal: no control characters from another process.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/g;
const str = (v: unknown) =>
  typeof v === "string" ? v.slice(0, 500).replace(CONTROL, "?") : undefined;
const num = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;

function parseForward(v: unknown): ForwardSummary | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const f = v as Partial<ForwardStatus>;
  const local = str(f.local), target = str(f.target), state = str(f.state);
  const connections = num(f.connections);
  if (local === undefined || target === undefined || state === undefined) return undefined;
  if (connections === undefined) return undefined;
  const last = f.lastFailure;
  return {
    local,
    target,
    state,
    connections,
    // Added within version 1: a ktctl that does not send them counts nothing.
    totalConnections: num(f.totalConnections) ?? 0,
    failures: num(f.failures) ?? 0,
    lastFailure: typeof last === "object" && last !== null ? str(last.sentence) ?? null : null,
  };
}
