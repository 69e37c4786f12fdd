/**
 * What the live view and `ktctl status` show about connections: the ones open now, the last
 * failures with their kind and sentence, and counts per minute. Fed from the connection
 * lifecycle (session.ts); read as plain data ({@link Activity.snapshot}). Everything is bounded:
 * at most `maxTracked` open connections are listed (the rest are only counted), the last
 * `maxFailures` failures, the last `minutes` minutes. Byte counts come from a thin wrapper around
 * each upstream ({@link CountedUpstream}), so they are live while the connection runs and
 * include everything written to the far side (an HTTP request's head too).
 * @module
 */
import type { Upstream } from "../net/upstream.ts";

/** The client program, from the peer-owner lookup. */
export interface ProgramInfo {
  name: string;
  pid: number;
}

/** One open connection, as shown. Times are epoch milliseconds. */
export interface ConnectionRecord {
  /** From {@link Activity.nextId}: unique among every connection of one registry. */
  id: number;
  /** The client's address and port. */
  client: string;
  program: ProgramInfo | null;
  /** What the client asked for (`web.demo:80`, `CONNECT web.demo:443`). */
  destination: string;
  /** Where it went: "service demo/web:80 → pod demo/web-0:8080", "direct", an upstream. */
  via: string;
  sentBytes: number;
  receivedBytes: number;
  startedAt: number;
}

/** One connection that failed, with the sentence its client was answered with. */
export interface FailureRecord {
  at: number;
  id: number;
  client: string;
  program: ProgramInfo | null;
  destination: string;
  /** A DialError kind (`no-endpoints`, `refused`, ...), `refused-user`, `malformed`, ... */
  kind: string;
  sentence: string;
}

/** Counts for one wall-clock minute. */
export interface MinuteRecord {
  /** The minute's start, epoch ms. */
  minute: number;
  connections: number;
  failures: number;
  sentBytes: number;
  receivedBytes: number;
}

export interface ActivitySnapshot {
  /** Connections open now (all, even those beyond the list's cap). */
  open: number;
  /** Open connections, newest first, at most `limit`. */
  connections: ConnectionRecord[];
  /** Newest first. */
  failures: FailureRecord[];
  /** Since start. */
  total: { connections: number; failures: number; sentBytes: number; receivedBytes: number };
  /** The current minute and the ones before it that had anything, oldest first. */
  minutes: MinuteRecord[];
  lastMinute: { connections: number; failures: number };
}

export interface ActivityOptions {
  maxTracked: number;
  maxFailures: number;
  minutes: number;
  now: () => number;
}

const DEFAULTS: ActivityOptions = {
  maxTracked: 5_000,
  maxFailures: 100,
  minutes: 60,
  now: () => Date.now(),
};

/** Counts the bytes through an upstream; the rest is the upstream's own. */
export class CountedUpstream implements Upstream {
  sent = 0;
  received = 0;
  /** What the connection log has reported already (a kept HTTP origin logs per request). */
  loggedSent = 0;
  loggedReceived = 0;

  constructor(
    readonly inner: Upstream,
    readonly onBytes: (sent: number, received: number) => void,
  ) {}

  async read(): Promise<Uint8Array | null> {
    const chunk = await this.inner.read();
    if (chunk) {
      this.received += chunk.length;
      this.onBytes(0, chunk.length);
    }
    return chunk;
  }

  buffer(size: number): Uint8Array {
    return this.inner.buffer(size);
  }

  async write(length: number): Promise<void> {
    await this.inner.write(length);
    this.sent += length;
    this.onBytes(length, 0);
  }

  endWrite(): Promise<void> {
    return this.inner.endWrite();
  }

  get closed(): Promise<void> {
    return this.inner.closed;
  }

  close(): void {
    this.inner.close();
  }

  get halfDuplexEnd(): boolean {
    return this.inner.halfDuplexEnd;
  }

  get description(): string {
    return this.inner.description;
  }

  /** Bytes since the last call (for one log line per request on a kept connection). */
  takeUnlogged(): { sent: number; received: number } {
    const d = { sent: this.sent - this.loggedSent, received: this.received - this.loggedReceived };
    this.loggedSent = this.sent;
    this.loggedReceived = this.received;
    return d;
  }
}

interface Live {
  record: Omit<ConnectionRecord, "sentBytes" | "receivedBytes">;
  upstream: CountedUpstream;
}

export class Activity {
  readonly #opts: ActivityOptions;
  #live = new Map<CountedUpstream, Live>();
  /** The same records by connection id, for a program named late (`named`). */
  #byId = new Map<number, Live["record"]>();
  #untracked = 0;
  #failures: FailureRecord[] = [];
  #minutes: MinuteRecord[] = [];
  #total = { connections: 0, failures: 0, sentBytes: 0, receivedBytes: 0 };
  #lastId = 0;
  /** Set when ktctl is stopping: connections cut then ended normally, not failed. */
  stopping = false;

  constructor(opts: Partial<ActivityOptions> = {}) {
    this.#opts = { ...DEFAULTS, ...opts };
  }

  /**
   * The next connection id. Every listener that shares this registry (the proxy's port, each
   * forward's) numbers its connections from here, so ids never repeat in the live view and
   * /api/status, and a log line's `#N` is the id the page shows.
   */
  nextId(): number {
    return ++this.#lastId;
  }

  /**
   * Registers an open connection; returns the upstream to use in its place (it counts bytes).
   * The connection leaves the list when the upstream has closed.
   */
  track(
    info: Omit<ConnectionRecord, "sentBytes" | "receivedBytes" | "startedAt">,
    upstream: Upstream,
  ): CountedUpstream {
    const counted = new CountedUpstream(upstream, (sent, received) => {
      const m = this.#minute();
      m.sentBytes += sent;
      m.receivedBytes += received;
      this.#total.sentBytes += sent;
      this.#total.receivedBytes += received;
    });
    this.#minute().connections++;
    this.#total.connections++;
    if (this.#live.size < this.#opts.maxTracked) {
      const record = { ...info, startedAt: this.#opts.now() };
      this.#live.set(counted, { record, upstream: counted });
      this.#byId.set(info.id, record);
      upstream.closed.finally(() => {
        this.#live.delete(counted);
        this.#byId.delete(info.id);
      });
    } else {
      this.#untracked++;
      upstream.closed.finally(() => this.#untracked--);
    }
    return counted;
  }

  /**
   * A connection's client program, named after the connection was registered (the lookup runs
   * beside the connection, verdict.ts): shown on its row and on its failures from now on.
   */
  named(id: number, program: ProgramInfo): void {
    const record = this.#byId.get(id);
    if (record) record.program = program;
    for (const f of this.#failures) if (f.id === id) f.program = program;
  }

  /** Records a failed connection. */
  failed(f: Omit<FailureRecord, "at">): void {
    this.#failures.push({ ...f, at: this.#opts.now() });
    if (this.#failures.length > this.#opts.maxFailures) {
      this.#failures.splice(0, this.#failures.length - this.#opts.maxFailures);
    }
    this.#minute().failures++;
    this.#total.failures++;
  }

  /** Everything as plain data; `limit` caps the list of open connections. */
  snapshot(limit = 200): ActivitySnapshot {
    const now = this.#opts.now();
    this.#minute();
    const connections = [...this.#live.values()]
      .sort((a, b) => b.record.id - a.record.id)
      .slice(0, limit)
      .map(({ record, upstream }) => ({
        ...record,
        sentBytes: upstream.sent,
        receivedBytes: upstream.received,
      }));
    const cutoff = now - 60_000;
    const lastMinute = { connections: 0, failures: 0 };
    // The last 60 s: whole minutes inside it, plus the share of the one it starts in.
    for (const m of this.#minutes) {
      if (m.minute + 60_000 <= cutoff) continue;
      const share = m.minute >= cutoff ? 1 : (m.minute + 60_000 - cutoff) / 60_000;
      lastMinute.connections += Math.round(m.connections * share);
      lastMinute.failures += Math.round(m.failures * share);
    }
    return {
      open: this.#live.size + this.#untracked,
      connections,
      failures: [...this.#failures].reverse(),
      total: { ...this.#total },
      minutes: this.#minutes.map((m) => ({ ...m })),
      lastMinute,
    };
  }

  /** The record for the current minute, dropping those older than the window. */
  #minute(): MinuteRecord {
    const start = Math.floor(this.#opts.now() / 60_000) * 60_000;
    const last = this.#minutes.at(-1);
    if (last?.minute === start) return last;
    const m = { minute: start, connections: 0, failures: 0, sentBytes: 0, receivedBytes: 0 };
    this.#minutes.push(m);
    const oldest = start - (this.#opts.minutes - 1) * 60_000;
    while (this.#minutes.length > 0 && this.#minutes[0].minute < oldest) this.#minutes.shift();
    return m;
  }
}

/**
 * At most `burst` lines per `windowMs`; the lines held back are counted, and the next line let
 * through says how many there were. Pure apart from the clock it is given.
 */
export class LineLimiter {
  #windowStart = -Infinity;
  #inWindow = 0;
  #held = 0;

  constructor(
    readonly burst = 10,
    readonly windowMs = 10_000,
    readonly now: () => number = () => Date.now(),
  ) {}

  /** Whether to write the line; `held` is how many were held back before it (to mention). */
  take(): { write: boolean; held: number } {
    const now = this.now();
    if (now - this.#windowStart >= this.windowMs) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= this.burst) {
      this.#held++;
      return { write: false, held: 0 };
    }
    this.#inWindow++;
    const held = this.#held;
    this.#held = 0;
    return { write: true, held };
  }
}
