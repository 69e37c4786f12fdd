/**
 * Processes the benchmark starts (ktctl connect, kubectl port-forward), tracked in one registry
 * so that every exit path (the end, an error, Ctrl+C, SIGTERM, the overall deadline) stops them
 * all; and what /proc says about them (RSS, peak RSS, CPU time).
 * @module
 */

const OUTPUT_KEEP = 64 * 1024;

export interface Proc {
  name: string;
  pid: number;
  /** What it printed (stdout and stderr interleaved, the last 64 KiB). */
  output(): string;
  readonly exited: boolean;
  /** Resolves once `pattern` has been printed; rejects when the process exits or time runs out. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Signals, waits up to 5 s, then SIGKILLs. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<Proc>();

/** Starts `cmd` and tracks it until it is stopped. stdin is closed; output is kept (bounded). */
export function spawn(
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; stopSignal?: Deno.Signal } = {},
): Proc {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let exited = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > OUTPUT_KEEP * 2) text = text.slice(-OUTPUT_KEEP);
        notify();
      }
    } catch { /* the process went away */ }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then((s) => {
    exited = true;
    notify();
    return s;
  });
  let stopping: Promise<void> | undefined;
  const proc: Proc = {
    name,
    pid: child.pid,
    output: () => text,
    get exited() {
      return exited;
    },
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = text.match(pattern);
          if (m) return done(() => resolve(m));
          if (exited) {
            return done(() =>
              reject(new Error(`${name} exited before printing ${pattern}:\n${tail(text)}`))
            );
          }
        };
        const timer = setTimeout(
          () =>
            done(() =>
              reject(
                new Error(
                  `${name} did not print ${pattern} within ${timeoutMs} ms:\n${tail(text)}`,
                ),
              )
            ),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
    stop() {
      stopping ??= (async () => {
        if (!exited) {
          try {
            child.kill(opts.stopSignal ?? "SIGTERM");
          } catch { /* gone */ }
          const killer = setTimeout(() => {
            try {
              child.kill("SIGKILL");
            } catch { /* gone */ }
          }, 5_000);
          await status;
          clearTimeout(killer);
        }
        await pumps;
        live.delete(proc);
      })();
      return stopping;
    },
  };
  live.add(proc);
  return proc;
}

/** Stops every process still tracked. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

function tail(text: string): string {
  return text.split("\n").slice(-15).join("\n");
}

/** A loopback port that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

// ---------------------------------------------------------------------------------------------
// /proc

export interface MemStatus {
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size (VmHWM), bytes. */
  hwm: number;
}

/** VmRSS and VmHWM of a live process; NaN for a process that is gone. */
export function memStatus(pid: number): MemStatus {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return { rss: NaN, hwm: NaN };
  }
  const kib = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    if (!m) throw new Error(`/proc/${pid}/status has no ${key}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kib("VmRSS"), hwm: kib("VmHWM") };
}

/** utime + stime of a process, in clock ticks; NaN for a process that is gone. */
export function cpuTicks(pid: number): number {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return NaN;
  }
  // Fields after the command name (which may hold spaces) start at field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

/** Live processes whose command name (/proc/PID/comm) is one of `names`. */
export function pidsNamed(names: string[]): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const comm = Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim();
      if (names.includes(comm)) pids.push(Number(entry.name));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

/** Clock ticks per second (sysconf(_SC_CLK_TCK)); 100 on Linux unless `getconf` says otherwise. */
export async function clockTicks(): Promise<number> {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" })
      .output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}
