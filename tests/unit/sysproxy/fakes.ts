/**
 * Test doubles for sysproxy: a recording command runner, a simulated HKCU registry that answers
 * `reg`/`setx` argv the way reg.exe and setx.exe do (CRLF output, exit 1 for a missing value),
 * an in-memory state folder, and a scripted process probe.
 */
import {
  type CommandResult,
  type CommandRunner,
  ExecutableNotFoundError,
} from "../../../src/sysproxy/command_runner.ts";
import { type ProcessProbe, ProcessProbeError } from "../../../src/sysproxy/process_probe.ts";
import type { StateRecord } from "../../../src/sysproxy/state_file.ts";
import type { StateFs } from "../../../src/sysproxy/state_fs.ts";
import { claimConnect, type ConnectClaim } from "../../../src/sysproxy/claim.ts";
import type { GlobalProxyRequest, Platform, SysProxyDeps } from "../../../src/sysproxy/types.ts";
import type { RegValue } from "../../../src/sysproxy/windows_registry.ts";

export const ENV = "HKCU\\Environment";
export const INET = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";

/** Registry values to start a world with: key, value name, value. */
export type Seed = Array<[string, string, RegValue]>;

/** The address:port the tests connect on, and the two kinds of global proxy for it. */
export const HERE = { address: "127.0.0.1", port: 2223 };
export const SOCKS: GlobalProxyRequest = {
  ...HERE,
  method: "socks",
  proxyUrl: "socks4a://127.0.0.1:2223",
};
export const SOCKS5: GlobalProxyRequest = {
  ...HERE,
  method: "socks5",
  proxyUrl: "socks5://127.0.0.1:2223",
};
/** A user with a corporate http_proxy and the system proxy switched off. */
export const CORP: Seed = [
  [ENV, "http_proxy", { type: "REG_SZ", data: "http://corp:8080" }],
  [INET, "ProxyEnable", { type: "REG_DWORD", data: 0 }],
];

/** A user whose system proxy points at a corporate proxy, with an expandable HTTP_PROXY. */
export const CORP_PROXY: Seed = [
  [ENV, "HTTP_PROXY", { type: "REG_EXPAND_SZ", data: "http://%PROXY_HOST%:8080" }],
  [INET, "ProxyEnable", { type: "REG_DWORD", data: 0 }],
  [INET, "ProxyServer", { type: "REG_SZ", data: "proxy.corp.example:8080" }],
  [INET, "ProxyOverride", { type: "REG_SZ", data: "*.corp.example; 10.*" }],
];

export type Handler = (cmd: string, args: string[]) => CommandResult | Promise<CommandResult>;

/** Records the exact argv of every call (`[cmd, ...args]`) and answers with `handler`. */
export class RecordingRunner implements CommandRunner {
  readonly calls: string[][] = [];
  constructor(private readonly handler: Handler) {}

  async run(cmd: string, args: string[]): Promise<CommandResult> {
    this.calls.push([cmd, ...args]);
    return await this.handler(cmd, args);
  }

  /** Calls that change something (reg add/delete, setx). */
  get mutations(): string[][] {
    return this.calls.filter(isMutation);
  }
}

export function isMutation(argv: string[]): boolean {
  return argv[0] === "setx" || (argv[0] === "reg" && argv[1] !== "query");
}

export const ok = (stdout = ""): CommandResult => ({ code: 0, stdout, stderr: "" });
export const accessDenied: CommandResult = {
  code: 1,
  stdout: "",
  stderr: "ERROR: Access is denied.\r\n",
};

interface Fault {
  match: (argv: string[]) => boolean;
  outcome: CommandResult | "missing" | "freeze-before" | "freeze-after";
}

/**
 * HKCU as reg.exe and setx.exe show it. Faults make a matching call fail, look like a missing
 * executable, or never return (a crash at that moment: nothing after it runs).
 */
export class FakeRegistry {
  readonly #values = new Map<string, { name: string; value: RegValue }>();
  readonly #faults: Fault[] = [];
  /** Called with every argv before it is answered (to look at the state file at that moment). */
  observe: (argv: string[]) => void = () => {};
  /** Behave like Wine's stub setx.exe: exit 0, write nothing. */
  setxIsStub = false;
  readonly runner = new RecordingRunner((cmd, args) => this.#handle(cmd, args));

  constructor(initial: Seed = []) {
    for (const [key, name, value] of initial) this.set(key, name, value);
  }

  get(key: string, name: string): RegValue | null {
    return this.#values.get(slot(key, name))?.value ?? null;
  }

  set(key: string, name: string, value: RegValue): void {
    const existing = this.#values.get(slot(key, name));
    this.#values.set(slot(key, name), { name: existing?.name ?? name, value });
  }

  delete(key: string, name: string): boolean {
    return this.#values.delete(slot(key, name));
  }

  /** Everything, for comparing whole registry states. */
  snapshot(): Record<string, RegValue> {
    return Object.fromEntries([...this.#values].map(([k, v]) => [k, v.value]));
  }

  fail(match: (argv: string[]) => boolean, outcome: Fault["outcome"]): void {
    this.#faults.push({ match, outcome });
  }

  /** The problem is fixed: calls behave normally again. */
  clearFaults(): void {
    this.#faults.length = 0;
  }

  #handle(cmd: string, args: string[]): Promise<CommandResult> | CommandResult {
    const argv = [cmd, ...args];
    this.observe(argv);
    const fault = this.#faults.find((f) => f.match(argv));
    if (fault?.outcome === "missing") throw new ExecutableNotFoundError(cmd);
    if (fault?.outcome === "freeze-before") return new Promise(() => {});
    if (fault && typeof fault.outcome === "object") return fault.outcome;
    const result = this.#execute(cmd, args);
    return fault?.outcome === "freeze-after" ? new Promise(() => {}) : result;
  }

  #execute(cmd: string, args: string[]): CommandResult {
    if (cmd === "setx" && args.length === 2) {
      if (!this.setxIsStub) this.set(ENV, args[0], { type: "REG_SZ", data: args[1] });
      return ok("\r\nSUCCESS: Specified value was saved.\r\n");
    }
    const [verb, key, v, name, ...rest] = args;
    if (cmd !== "reg" || v !== "/v") return syntaxError;
    if (verb === "query" && rest.length === 0) {
      const found = this.#values.get(slot(key, name));
      if (!found) return notFound;
      return ok(`\r\n${longKey(key)}\r\n    ${found.name}    ${render(found.value)}\r\n\r\n`);
    }
    if (verb === "delete" && rest.length === 1 && rest[0] === "/f") {
      return this.delete(key, name) ? ok("The operation completed successfully.\r\n") : notFound;
    }
    if (verb === "add" && rest.length === 5 && rest[0] === "/t" && rest[2] === "/d") {
      const [, type, , data, force] = rest;
      if (force !== "/f") return syntaxError;
      if (type === "REG_DWORD" && /^(\d+|0x[0-9a-f]+)$/i.test(data)) {
        this.set(key, name, { type, data: Number(data) });
      } else if (type === "REG_SZ" || type === "REG_EXPAND_SZ") {
        this.set(key, name, { type, data });
      } else return syntaxError;
      return ok("The operation completed successfully.\r\n");
    }
    return syntaxError;
  }
}

const notFound: CommandResult = {
  code: 1,
  stdout: "",
  stderr: "ERROR: The system was unable to find the specified registry key or value.\r\n",
};
const syntaxError: CommandResult = { code: 1, stdout: "", stderr: "ERROR: Invalid syntax.\r\n" };

function slot(key: string, name: string): string {
  return `${key}\\${name}`.toLowerCase();
}

function longKey(key: string): string {
  return key.replace(/^HKCU\\/, "HKEY_CURRENT_USER\\");
}

function render(value: RegValue): string {
  return value.type === "REG_DWORD"
    ? `REG_DWORD    0x${value.data.toString(16)}`
    : `${value.type}    ${value.data}`;
}

/** The state folder in memory; `files` maps full paths to contents. */
export class MemoryFs implements StateFs {
  readonly files = new Map<string, string>();
  /** Every content written to a state file, in order (to inspect what was on disk when). */
  readonly history: Array<{ path: string; text: string }> = [];

  ensureDir(): Promise<void> {
    return Promise.resolve();
  }

  list(dir: string): Promise<string[]> {
    const names = [...this.files.keys()]
      .filter((path) => parentOf(path) === dir)
      .map((path) => path.slice(dir.length + 1));
    return Promise.resolve(names.sort());
  }

  read(path: string): Promise<string | undefined> {
    return Promise.resolve(this.files.get(path));
  }

  writeAtomic(path: string, text: string): Promise<void> {
    this.files.set(path, text);
    this.history.push({ path, text });
    return Promise.resolve();
  }

  async createExclusive(path: string, text: string): Promise<boolean> {
    if (this.files.has(path)) return false;
    await this.writeAtomic(path, text);
    return true;
  }

  remove(path: string): Promise<void> {
    this.files.delete(path);
    return Promise.resolve();
  }

  /** The state file at `path`, parsed (no validation: tests look at what is on disk). */
  json(path: string): StateRecord {
    const text = this.files.get(path);
    if (text === undefined) throw new Error(`no file ${path}`);
    return JSON.parse(text);
  }
}

function parentOf(path: string): string {
  return path.slice(0, Math.max(path.lastIndexOf("\\"), path.lastIndexOf("/")));
}

/** Processes by pid → identity; `broken` makes every lookup throw like a probe without tools. */
export class FakeProbe implements ProcessProbe {
  readonly running = new Map<number, string>();
  broken = false;

  startTime(pid: number): Promise<string | undefined> {
    if (this.broken) return Promise.reject(new ProcessProbeError("tasklist and wmic failed"));
    return Promise.resolve(this.running.get(pid));
  }
}

export const HOME = "C:\\Users\\dev";
export const STATE_DIR = `${HOME}\\.ktctl`;
export const STATE_PATH = `${STATE_DIR}\\connect-127.0.0.1-2223.json`;

/** A Windows world: registry, state folder and processes shared by several "ktctl runs". */
export class World {
  readonly registry: FakeRegistry;
  readonly fs = new MemoryFs();
  readonly probe = new FakeProbe();

  constructor(initial: Seed = []) {
    this.registry = new FakeRegistry(initial);
  }

  /** The deps of a ktctl process with `pid` (started at `started`), running now. */
  process(pid: number, platform: Platform = "windows"): SysProxyDeps {
    this.probe.running.set(pid, `created:${pid}-start`);
    return {
      runner: this.registry.runner,
      fs: this.fs,
      process: this.probe,
      platform,
      home: platform === "windows" ? HOME : "/home/dev",
      pid,
      now: () => new Date("2024-05-01T09:30:00.000Z"),
    };
  }

  /** The process with `pid` dies. */
  kill(pid: number): void {
    this.probe.running.delete(pid);
  }
}

/** Starts "ktctl connect" as `pid` in `world`: its deps, and its claim on {@link HERE}. */
export async function startConnect(
  world: World,
  pid = 100,
): Promise<{ deps: SysProxyDeps; claim: ConnectClaim }> {
  const deps = world.process(pid);
  return { deps, claim: await claimConnect(HERE, deps) };
}

/** Lets a frozen (crashed) call chain settle whatever it was going to do before freezing. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}
