/**
 * Test harness: runs the Windows build of Deno (deno.exe, patched for Wine 8) under Wine, each test run in a
 * fresh Wine prefix. Prepared by `testenv/wine/setup.sh` (see tests/windows/README.md).
 *
 *   const wp = await createPrefix();
 *   try {
 *     const r = await wp.runWinDeno(["eval", "console.log(Deno.build.os)"]);
 *     assertEquals(r.stdout.trim(), "windows");
 *   } finally {
 *     await wp.destroy();
 *   }
 *
 * Every call has a timeout; on time-out the Linux process is killed with SIGKILL and the result
 * says `timedOut: true` (it does not throw). Output is returned as text exactly as the Windows
 * program wrote it: reg.exe and setx.exe write CRLF, deno.exe's console.log writes LF.
 *
 * @module
 */

const te = new TextEncoder();

/** Linux path of the repository root (for `cwd` and `toWinPath`). */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const SETUP_SCRIPT = `${REPO_ROOT}/testenv/wine/setup.sh`;

/** What testenv/wine/setup.sh recorded in `<cache>/wine/manifest.json`. */
export interface WineManifest {
  key: string;
  wineVersion: string;
  denoVersion: string;
  /** Linux path of the deno.exe to run (the patched copy when Wine needs the patch). */
  denoExe: string;
  /** Linux path of our bcryptprimitives.dll, or null when this Wine does not need it. */
  bcryptprimitivesDll: string | null;
  /** Linux path of our setx.exe, or null when Wine's own setx.exe works. */
  setxExe: string | null;
  /** Linux path of ctrlclose.exe (testenv/wine/src/ctrlclose.c: a console close, simulated). */
  ctrlcloseExe: string;
  /** Linux path of sysproxy_client.exe (a WinINet client that uses the system proxy). */
  sysproxyClientExe: string;
  /** Linux path of the DENO_DIR shared by all prefixes (npm and remote module cache). */
  denoDir: string;
  wineserver: string;
  needs: { bcryptprimitives: boolean; virtualAlloc2Patch: boolean; setx: boolean };
}

export interface RunOptions {
  /**
   * Linux working directory. Default: the prefix's scratch dir `C:\work` (so that a deno.exe
   * run finds no deno.json and writes no deno.lock into the repository by accident).
   */
  cwd?: string;
  /** Extra environment variables (Linux side; Wine passes them to the Windows process). */
  env?: Record<string, string>;
  /** Kill the process (SIGKILL) after this many ms. Default 120 000. */
  timeoutMs?: number;
  /** Text written to the process's stdin (then closed). Default: no stdin. */
  stdin?: string;
}

export interface RunResult {
  /** Exit code as seen by Linux (128+N when the wine process was killed by signal N). */
  code: number;
  /** The Linux signal that ended the wine process, if any. */
  signal: Deno.Signal | null;
  success: boolean;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  /**
   * SIGKILL that neither the test nor a time-out sent: wineserver kills a process's Linux side
   * that is still there 1 s after the Windows program ended (server/process.c,
   * start_sigkill_timer), which a busy machine makes happen. The program had finished; its exit
   * code is lost.
   */
  killedAfterExit: boolean;
}

/** A long-running Windows process (e.g. `deno.exe run ... ktctl.js connect`). */
export interface WinProcess {
  /**
   * Linux pid of the Wine process that hosts the Windows program. `wine` execs the loader, so
   * this is the pid to signal: SIGINT arrives as a Windows CTRL_C_EVENT.
   */
  readonly pid: number;
  readonly child: Deno.ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (or stderr) matches; rejects on exit or after timeoutMs (30 000). */
  waitFor(
    pattern: string | RegExp,
    opts?: { timeoutMs?: number; stream?: "stdout" | "stderr" },
  ): Promise<string>;
  /** Sends a Linux signal to `pid`. */
  kill(signal?: Deno.Signal): void;
  /** Waits for exit (default 60 000 ms, then SIGKILL and `timedOut: true`). */
  wait(timeoutMs?: number): Promise<RunResult>;
}

export interface RegValue {
  name: string;
  /** e.g. "REG_SZ", "REG_DWORD", "REG_EXPAND_SZ", "REG_MULTI_SZ", "REG_BINARY". */
  type: string;
  /** Numbers for REG_DWORD/REG_QWORD, string[] for REG_MULTI_SZ, else the text as printed. */
  value: string | number | string[];
}

export interface WinePrefix {
  /** Linux path of the WINEPREFIX (a fresh temp dir). */
  readonly dir: string;
  readonly manifest: WineManifest;
  /** Windows path of the shared DENO_DIR (`Z:\...`). */
  readonly denoDir: string;
  /** Linux path of the scratch dir `C:\work` (the default cwd). */
  readonly workDir: string;
  /** Environment used for every Wine call (WINEPREFIX, WINEDEBUG=-all, DENO_DIR, ...). */
  readonly env: Record<string, string>;
  /** `/a/b` -> `Z:\a\b` (Wine's Z: drive maps `/`). */
  toWinPath(linuxPath: string): string;
  /** `C:\x` -> `<prefix>/drive_c/x`, `Z:\x` -> `/x`. */
  toLinuxPath(winPath: string): string;
  /** Writes `C:\work\<name>` and returns that Windows path. */
  writeScript(name: string, text: string): Promise<string>;
  /** Runs the (patched) deno.exe under wine and collects its output. */
  runWinDeno(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts the (patched) deno.exe under wine and returns at once. */
  spawnWinDeno(args: string[], opts?: Omit<RunOptions, "timeoutMs" | "stdin">): WinProcess;
  /** Runs any Windows program under wine (`wine <program> <args>`). */
  wine(program: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** `wine reg.exe <args>`. Wine's reg.exe writes its messages, errors included, to stdout. */
  reg(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** `reg query KEY /v NAME` (NAME "" = the default value): the parsed value, or undefined. */
  regQuery(key: string, name: string): Promise<string | number | string[] | undefined>;
  /** Like regQuery, with the type. */
  regQueryTyped(key: string, name: string): Promise<RegValue | undefined>;
  /**
   * `reg export KEY FILE /y`: the exact text of the file (UTF-16LE decoded), or undefined when
   * reg.exe failed (a missing key).
   */
  regExport(key: string): Promise<string | undefined>;
  /** Kills every process of the prefix (wineserver -k) and removes the prefix. Idempotent. */
  destroy(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface CreatePrefixOptions {
  /** Run testenv/wine/setup.sh first (idempotent, ~0.1 s when warm; once per process). Default true. */
  setup?: boolean;
  /** Timeout of `wineboot -i`. Default 180 000 ms. */
  bootTimeoutMs?: number;
  /**
   * The Linux locale Wine runs in (LANG and LC_ALL), e.g. `zh_CN.UTF-8`: it decides the prefix's
   * code page. Default: the caller's LANG. The locale must exist (setup.sh generates the two
   * the tests use), or Wine falls back to 7-bit ASCII.
   */
  lang?: string;
}

function cacheDir(): string {
  const base = Deno.env.get("KTCTL_CACHE") ?? `${Deno.env.get("HOME")}/.cache/ktctl`;
  return `${base}/wine`;
}

/** Reads manifest.json written by setup.sh; throws with a hint when setup has not run. */
/**
 * Asserts that a Windows program ended with exit code 0, or was killed by wineserver after it
 * had ended (`killedAfterExit`: its exit code is then unknown, and the caller's checks of what
 * it printed or changed carry the test). Said on stderr when that happens, so that it shows.
 */
export function assertExitedOk(r: RunResult, detail: string): void {
  if (r.killedAfterExit) {
    console.error(
      `[wine] killed by wineserver ${r.durationMs} ms after start, after the program ended; ` +
        "exit code unknown",
    );
    return;
  }
  if (r.code !== 0) {
    throw new Error(
      `exit code ${r.code}${r.signal ? ` (${r.signal})` : ""}${r.timedOut ? ", timed out" : ""}` +
        ` after ${r.durationMs} ms: ${detail}`,
    );
  }
}

export async function loadManifest(): Promise<WineManifest> {
  const file = `${cacheDir()}/manifest.json`;
  try {
    return JSON.parse(await Deno.readTextFile(file)) as WineManifest;
  } catch (e) {
    throw new Error(`${file} missing or unreadable: run \`deno task wine:setup\` first (${e})`);
  }
}

let setupDone: Promise<void> | undefined;

/** Runs testenv/wine/setup.sh once per process (installs Wine etc. on a fresh machine). */
export function ensureSetup(timeoutMs = 900_000): Promise<void> {
  setupDone ??= (async () => {
    const r = await run("bash", [SETUP_SCRIPT], { timeoutMs, cwd: REPO_ROOT, clearEnv: false });
    if (!r.success) {
      setupDone = undefined;
      throw new Error(`testenv/wine/setup.sh failed (code ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  })();
  return setupDone;
}

/** Whether Wine and the setup manifest are present (for `ignore:` in tests). */
export async function wineAvailable(): Promise<boolean> {
  try {
    await Deno.stat(`${cacheDir()}/manifest.json`);
    return (await run("wine", ["--version"], { timeoutMs: 10_000, clearEnv: false })).success;
  } catch {
    return false;
  }
}

/** Parses `reg query` output (Windows or Wine) into its values. */
export function parseRegQuery(stdout: string): RegValue[] {
  const values: RegValue[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    // "    NAME    REG_TYPE    DATA" (DATA may be empty, NAME may contain spaces)
    const m = /^ {4}(.*?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/.exec(line);
    if (!m) continue;
    const [, name, type, raw = ""] = m;
    let value: string | number | string[] = raw;
    if (type === "REG_DWORD" || type === "REG_QWORD") {
      // Wine 8 prints REG_QWORD as "(null)"; keep the text then.
      value = /^0x[0-9a-f]+$/i.test(raw) ? Number(BigInt(raw)) : raw;
    } else if (type === "REG_MULTI_SZ") {
      value = raw === "" ? [] : raw.split("\\0");
    }
    values.push({ name: name === "(Default)" ? "" : name, type, value });
  }
  return values;
}

/**
 * The values of exactly `key` (not its subkeys) in a `reg export` file's text (UTF-16LE with a
 * BOM on disk, decoded by the caller): an exact view in every locale, unlike `reg query`'s
 * console output. Strings are unescaped (`\\\\` and `\\"`); `hex(2):` (REG_EXPAND_SZ) is decoded
 * from its UTF-16LE bytes; other hex types keep their hex text.
 */
export function parseRegExport(text: string, key: string): RegValue[] {
  const header = `[${key.replace(/^HKCU\\/i, "HKEY_CURRENT_USER\\")}]`.toLowerCase();
  const lines = text.replace(/^\uFEFF/, "").replace(/\\\r?\n\s*/g, "").split(/\r?\n/);
  const start = lines.findIndex((line) => line.trim().toLowerCase() === header);
  if (start < 0) return [];
  const values: RegValue[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith("[")) break;
    const m = /^(@|"((?:[^"\\]|\\.)*)")=(.*)$/.exec(line);
    if (!m) continue;
    const name = m[1] === "@" ? "" : unescapeReg(m[2]);
    values.push({ name, ...exportedData(m[3]) });
  }
  return values;
}

function unescapeReg(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => c === "n" ? "\n" : c === "0" ? "\0" : c);
}

function exportedData(data: string): Omit<RegValue, "name"> {
  if (data.startsWith('"')) return { type: "REG_SZ", value: unescapeReg(data.slice(1, -1)) };
  if (data.startsWith("dword:")) return { type: "REG_DWORD", value: parseInt(data.slice(6), 16) };
  const hex = /^hex(?:\(([0-9a-f]+)\))?:(.*)$/i.exec(data);
  if (!hex) return { type: "UNKNOWN", value: data };
  const bytes = hex[2] === "" ? [] : hex[2].split(",").map((b) => parseInt(b, 16));
  const kind = hex[1] ?? "3";
  if (kind === "2" || kind === "7") {
    const units: number[] = [];
    for (let i = 0; i + 1 < bytes.length; i += 2) units.push(bytes[i] | (bytes[i + 1] << 8));
    const text = String.fromCharCode(...units).replace(/\0$/, "");
    return kind === "2"
      ? { type: "REG_EXPAND_SZ", value: text }
      : { type: "REG_MULTI_SZ", value: text.replace(/\0$/, "").split("\0") };
  }
  return { type: kind === "b" ? "REG_QWORD" : `REG_HEX(${kind})`, value: hex[2] };
}

interface Collected {
  stdout: string;
  stderr: string;
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  into: Collected,
  key: keyof Collected,
  onData: () => void,
) {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      into[key] += decoder.decode(chunk, { stream: true });
      onData();
    }
  } catch {
    // stream closed by a kill
  }
  into[key] += decoder.decode();
  onData();
}

/** Waits for p, but at most ms (and leaves no timer behind). */
async function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((r) => timer = setTimeout(r, ms))]);
  clearTimeout(timer);
}

function signalOf(status: Deno.CommandStatus): Deno.Signal | null {
  return status.signal ?? null;
}

/** Spawns a Linux process with a timeout; never throws for a non-zero exit. */
async function run(
  cmd: string,
  args: string[],
  opts: RunOptions & { clearEnv?: boolean },
): Promise<RunResult> {
  const started = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd ?? REPO_ROOT,
    env: opts.env,
    clearEnv: opts.clearEnv ?? true,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out: Collected = { stdout: "", stderr: "" };
  const pumps = [
    pump(child.stdout, out, "stdout", () => {}),
    pump(child.stderr, out, "stderr", () => {}),
  ];
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(te.encode(opts.stdin)).catch(() => {});
    await w.close().catch(() => {});
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, opts.timeoutMs ?? 120_000);
  const status = await child.status;
  clearTimeout(timer);
  // Output pipes may be held open by a daemon the process left behind (e.g. wineserver);
  // don't wait for them forever.
  await atMost(Promise.all(pumps), 2_000);
  return {
    code: status.code,
    signal: signalOf(status),
    success: status.success,
    stdout: out.stdout,
    stderr: out.stderr,
    timedOut,
    durationMs: Math.round(performance.now() - started),
    killedAfterExit: status.signal === "SIGKILL" && !timedOut,
  };
}

/** Linux environment variables passed through to Wine (everything else is dropped). */
const PASS_ENV = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "LANG",
  "LC_ALL",
  "TMPDIR",
  "NPM_CONFIG_REGISTRY",
];

/** Creates a fresh Wine prefix in a temp dir, ready to run deno.exe. */
/** Wine itself failed to start a new prefix (wineserver or wineboot), before any test step. */
class PrefixBootError extends Error {
  override name = "PrefixBootError";
}

/**
 * A new prefix, started again (up to three times) when Wine fails to boot it: under load
 * `wineboot -i` of a fresh prefix has been seen to exit 53 with nothing done, a Wine start-up
 * race, not something the tests check.
 */
export async function createPrefix(options: CreatePrefixOptions = {}): Promise<WinePrefix> {
  for (let attempt = 1;; attempt++) {
    try {
      return await createPrefixOnce(options);
    } catch (e) {
      if (!(e instanceof PrefixBootError) || attempt === 3) throw e;
      console.error(`${e.message}: starting a fresh prefix (attempt ${attempt + 1} of 3)`);
    }
  }
}

async function createPrefixOnce(options: CreatePrefixOptions): Promise<WinePrefix> {
  if (options.setup ?? true) await ensureSetup();
  const manifest = await loadManifest();
  const dir = await Deno.makeTempDir({ prefix: "ktctl-wine-" });
  const winDenoDir = "Z:" + manifest.denoDir.replaceAll("/", "\\");
  const env: Record<string, string> = {};
  for (const k of PASS_ENV) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  if (options.lang) Object.assign(env, { LANG: options.lang, LC_ALL: options.lang });
  Object.assign(env, {
    WINEPREFIX: dir,
    WINEDEBUG: "-all",
    // No Mono/Gecko install attempts (they could not be downloaded anyway).
    WINEDLLOVERRIDES: "mscoree,mshtml=",
    DENO_DIR: winDenoDir,
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
  });
  // The machine's CA bundle (it may hold a TLS-intercepting proxy's CA that Deno's built-in
  // Mozilla roots lack), as a Z: path, so that deno.exe can reach the npm registry.
  const caFile = Deno.env.get("DENO_CERT") ?? Deno.env.get("SSL_CERT_FILE") ??
    "/etc/ssl/certs/ca-certificates.crt";
  if (await Deno.stat(caFile).then(() => true, () => false)) {
    env.DENO_CERT = "Z:" + caFile.replaceAll("/", "\\");
  }
  const spawned = new Set<Deno.ChildProcess>();
  const st = await Deno.stat(dir);
  // wineserver keeps its socket in /tmp/wine-XXXXXX/server-<dev>-<inode of the prefix>.
  const serverDirName = `server-${st.dev.toString(16)}-${st.ino!.toString(16)}`;
  let destroyed = false;

  const workDir = `${dir}/drive_c/work`;
  const wine = (program: string, args: string[], opts: RunOptions = {}) =>
    run("wine", [program, ...args], { cwd: workDir, ...opts, env: { ...env, ...opts.env } });

  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    for (const c of spawned) {
      try {
        c.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await run(manifest.wineserver, ["-k"], { env, timeoutMs: 20_000 });
    await run(manifest.wineserver, ["-w"], { env, timeoutMs: 20_000 });
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    for await (const e of Deno.readDir("/tmp")) {
      if (!e.isDirectory || !e.name.startsWith("wine-")) continue;
      const sd = `/tmp/${e.name}/${serverDirName}`;
      try {
        await Deno.stat(sd);
      } catch {
        continue;
      }
      await Deno.remove(sd, { recursive: true }).catch(() => {});
      await Deno.remove(`/tmp/${e.name}`).catch(() => {}); // only if now empty
    }
  };

  try {
    // A persistent wineserver for the prefix's lifetime: no start-up cost per call, and
    // destroy() ends it with -k. Daemons (wineserver, services.exe, ...) would keep piped
    // stdio open, so these calls get none.
    const quiet = async (cmd: string, args: string[], timeoutMs: number) => {
      const r = await new Deno.Command(cmd, {
        args,
        env,
        clearEnv: true,
        cwd: dir,
        stdin: "null",
        stdout: "null",
        stderr: "null",
        signal: AbortSignal.timeout(timeoutMs),
      }).output();
      if (!r.success) {
        throw new PrefixBootError(
          `${cmd} ${args.join(" ")} failed (code ${r.code}, signal ${r.signal})`,
        );
      }
    };
    await quiet(manifest.wineserver, ["-p"], 20_000);
    await quiet("wineboot", ["-i"], options.bootTimeoutMs ?? 180_000);
    await Deno.mkdir(workDir, { recursive: true });
    const sys32 = `${dir}/drive_c/windows/system32`;
    if (manifest.bcryptprimitivesDll) {
      await Deno.copyFile(manifest.bcryptprimitivesDll, `${sys32}/bcryptprimitives.dll`);
    }
    if (manifest.setxExe) {
      await Deno.copyFile(manifest.setxExe, `${sys32}/setx.exe`);
      const r = await wine("reg.exe", [
        "add",
        "HKCU\\Software\\Wine\\DllOverrides",
        "/v",
        "setx.exe",
        "/t",
        "REG_SZ",
        "/d",
        "native",
        "/f",
      ], { timeoutMs: 30_000 });
      if (!r.success) {
        throw new Error(`setting the setx.exe DllOverride failed: ${r.stdout}${r.stderr}`);
      }
    }
  } catch (e) {
    await destroy();
    throw e;
  }

  const regQueryTyped = async (key: string, name: string): Promise<RegValue | undefined> => {
    const r = await wine("reg.exe", ["query", key, ...(name === "" ? ["/ve"] : ["/v", name])], {
      timeoutMs: 30_000,
    });
    if (r.timedOut) throw new Error(`reg query ${key} /v ${name} timed out`);
    if (r.code !== 0) return undefined;
    const values = parseRegQuery(r.stdout);
    return values.find((v) => v.name.toLowerCase() === name.toLowerCase()) ?? values[0];
  };

  const prefix: WinePrefix = {
    dir,
    manifest,
    denoDir: winDenoDir,
    workDir,
    env,
    toWinPath: (p) => "Z:" + p.replaceAll("/", "\\"),
    toLinuxPath(p) {
      const m = /^([a-zA-Z]):[\\/]?(.*)$/.exec(p);
      if (!m) throw new Error(`not a drive path: ${p}`);
      const rest = m[2].replaceAll("\\", "/");
      const drive = m[1].toLowerCase();
      if (drive === "z") return "/" + rest;
      if (drive === "c") return `${dir}/drive_c/${rest}`;
      throw new Error(`no mapping for drive ${drive}:`);
    },
    async writeScript(name, text) {
      await Deno.writeTextFile(`${workDir}/${name}`, text);
      return `C:\\work\\${name.replaceAll("/", "\\")}`;
    },
    runWinDeno: (args, opts = {}) => wine(manifest.denoExe, args, opts),
    spawnWinDeno(args, opts = {}) {
      const child = new Deno.Command("wine", {
        args: [manifest.denoExe, ...args],
        cwd: opts.cwd ?? workDir,
        env: { ...env, ...opts.env },
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      spawned.add(child);
      const started = performance.now();
      const out: Collected = { stdout: "", stderr: "" };
      const listeners = new Set<() => void>();
      const notify = () => listeners.forEach((l) => l());
      const pumps = Promise.all([
        pump(child.stdout, out, "stdout", notify),
        pump(child.stderr, out, "stderr", notify),
      ]);
      let exited = false;
      let timedOut = false;
      /** Whether the test sent SIGKILL (then a SIGKILL end is no surprise). */
      let killed = false;
      const status = child.status.then((s) => {
        exited = true;
        spawned.delete(child);
        notify();
        return s;
      });
      return {
        pid: child.pid,
        child,
        stdout: () => out.stdout,
        stderr: () => out.stderr,
        kill(signal: Deno.Signal = "SIGINT") {
          if (exited) return;
          if (signal === "SIGKILL") killed = true;
          try {
            child.kill(signal);
          } catch (e) {
            if (!exited) throw e;
          }
        },
        waitFor(pattern, o = {}) {
          const stream = o.stream;
          const test = (): string | undefined => {
            for (const k of stream ? [stream] : (["stdout", "stderr"] as const)) {
              const m = typeof pattern === "string"
                ? (out[k].includes(pattern) ? pattern : undefined)
                : pattern.exec(out[k])?.[0];
              if (m !== undefined) return m;
            }
          };
          return new Promise((resolve, reject) => {
            const check = () => {
              const m = test();
              if (m !== undefined) done(() => resolve(m));
              else if (exited) {
                done(() =>
                  reject(
                    new Error(`process exited before ${pattern}:\n${out.stdout}\n${out.stderr}`),
                  )
                );
              }
            };
            const timer = setTimeout(
              () =>
                done(() =>
                  reject(
                    new Error(`timed out waiting for ${pattern}:\n${out.stdout}\n${out.stderr}`),
                  )
                ),
              o.timeoutMs ?? 30_000,
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
        async wait(timeoutMs = 60_000) {
          const timer = setTimeout(() => {
            timedOut = true;
            try {
              child.kill("SIGKILL");
            } catch { /* gone */ }
          }, timeoutMs);
          const s = await status;
          clearTimeout(timer);
          await atMost(pumps, 2_000);
          return {
            code: s.code,
            signal: signalOf(s),
            success: s.success,
            stdout: out.stdout,
            stderr: out.stderr,
            timedOut,
            durationMs: Math.round(performance.now() - started),
            killedAfterExit: s.signal === "SIGKILL" && !timedOut && !killed,
          };
        },
      };
    },
    wine,
    reg: (args, opts = {}) => wine("reg.exe", args, { timeoutMs: 30_000, ...opts }),
    regQueryTyped,
    async regExport(key) {
      const file = `export-${crypto.randomUUID()}.reg`;
      const r = await wine("reg.exe", ["export", key, `C:\\work\\${file}`, "/y"], {
        timeoutMs: 30_000,
      });
      if (r.code !== 0) return undefined;
      const bytes = await Deno.readFile(`${workDir}/${file}`);
      await Deno.remove(`${workDir}/${file}`);
      return new TextDecoder("utf-16le").decode(bytes);
    },
    regQuery: async (key, name) => (await regQueryTyped(key, name))?.value,
    destroy,
    [Symbol.asyncDispose]: destroy,
  };
  return prefix;
}
