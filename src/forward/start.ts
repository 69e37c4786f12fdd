/**
 * Starts a set of forwards: plans them all first (an unknown target or port fails before any
 * port is bound), then binds every local port (a taken one fails the lot, closing those bound),
 * then serves. Shared by `ktctl forward` and `ktctl connect --forward`.
 * @module
 */
import { hostPort } from "../net/client_address.ts";
import type { AdmissionCheck } from "../front/dialer.ts";
import type { Activity } from "../front/activity.ts";
import { ListenError } from "../net/tcp_listen.ts";
import { UserError } from "../errors.ts";
import { ForwardListener } from "./listener.ts";
import { type ForwardContext, planForward, type PlannedForward } from "./plan.ts";
import type { ForwardSpec } from "./target.ts";

export interface RunningForward {
  listener: ForwardListener;
  /** "127.0.0.1:5432 → service db/postgres:5432", as printed. */
  line: string;
  /** The local address clients use, `127.0.0.1:5432`. */
  local: string;
  /** What it reaches, `service db/postgres:5432`. */
  target: string;
}

/** One forward as `/api/status` lists it (docs/status-api.md). */
export interface ForwardStatus {
  /** The local address clients use, `127.0.0.1:5432`. */
  local: string;
  /** What it reaches, `service db/postgres:5432`. */
  target: string;
  /** `listening`, or `closed` once stopped. */
  state: string;
  /** Connections open now. */
  connections: number;
  /** Connections accepted since start, refused and failed ones included. */
  totalConnections: number;
  failures: number;
  /** The last connection that failed: when, its kind and the sentence logged. */
  lastFailure: { at: string; kind: string; sentence: string } | null;
}

export interface RunningForwards {
  forwards: RunningForward[];
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
}

/** Plans, binds and serves; throws a UserError (with nothing left bound) on failure. */
export async function startForwards(
  specs: ForwardSpec[],
  ctx: ForwardContext,
  opts: { address: string; admit?: AdmissionCheck; activity?: Activity },
): Promise<RunningForwards> {
  const plans: PlannedForward[] = [];
  for (const spec of specs) plans.push(...await planForward(spec, ctx));
  const forwards: RunningForward[] = [];
  const close = async () => {
    await Promise.all(forwards.map((f) => f.listener.close()));
  };
  try {
    for (const plan of plans) {
      const listener = bind(opts.address, plan.localPort);
      const local = hostPort(opts.address, listener.addr.port);
      const line = `${local} → ${plan.describe}`;
      forwards.push({ listener, line, local, target: plan.describe });
      listener.serve({
        open: plan.open,
        admit: opts.admit,
        label: line,
        activity: opts.activity,
        target: plan.describe,
      });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { forwards, close };
}

/** The forwards as `/api/status` lists them (status_model.ts' ForwardStatus). */
export function forwardStatuses(forwards: RunningForward[]): ForwardStatus[] {
  return forwards.map((f) => {
    const c = f.listener.status();
    return {
      local: f.local,
      target: f.target,
      state: c.state,
      connections: c.connections,
      totalConnections: c.totalConnections,
      failures: c.failures,
      lastFailure: c.lastFailure && {
        at: new Date(c.lastFailure.at).toISOString(),
        kind: c.lastFailure.kind,
        sentence: c.lastFailure.sentence,
      },
    };
  });
}

function bind(address: string, port: number): ForwardListener {
  try {
    return ForwardListener.listen(address, port);
  } catch (e) {
    if (!(e instanceof ListenError)) throw e;
    throw new UserError(
      e.kind === "in-use"
        ? `${e.message}: stop what listens there, or pick another local port (LOCAL:REMOTE, or :REMOTE for any free one)`
        : `${e.message}: check --address`,
    );
  }
}
