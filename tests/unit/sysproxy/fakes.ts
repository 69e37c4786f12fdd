/**
 * Test doubles for sysproxy: a simulated HKCU registry (behind the same synchronous interface
 * as the FFI one, storing each value as the bytes the registry API would hold) that records
 * every call and can fail or "crash" at any of them, the Windows notifications and console
 * handler, an in-memory state folder, and a scripted process probe.
 */
import { ExecutableNotFoundError } from "../../../src/os/command_runner.ts";
import { type ProcessProbe, ProcessProbeError } from "../../../src/os/process_probe.ts";
import type { StateRecord } from "../../../src/sysproxy/state_file.ts";
import type { StateFs } from "../../../src/sysproxy/state_fs.ts";
import { claimConnect, type ConnectClaim } from "../../../src/sysproxy/claim.ts";
import type { GlobalProxyRequest, Platform, SysProxyDeps } from "../../../src/sysproxy/types.ts";
import {
  decodeRegData,
  encodeRegData,
  RegistryError,
  type RegValue,
} from "../../../src/os/windows_registry.ts";
import type { InternetRefresh, WindowsSystem } from "../../../src/os/windows_system.ts";
import {
  type ConnectionName,
  type ConnectionOptions,
  type ConnectionSettings,
  PROXY_TYPE_AUTO_PROXY_URL,
  PROXY_TYPE_DIRECT,
  PROXY_TYPE_PROXY,
  WinInetError,
} from "../../../src/os/wininet.ts";

export const ENV = "HKCU\\Environment";
export const INET = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";

/** Registry values to start a world with: key, value name, value. */
export type Seed = Array<[string, string, RegValue]>;

/** The address:port the tests connect on, and the kinds of global proxy for it. */
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
export const HTTP: GlobalProxyRequest = {
  ...HERE,
  method: "http",
  proxyUrl: "http://127.0.0.1:2223",
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

/**
 * One recorded call: `["get" | "delete", key, name]`, `["set", key, name, type, data]`,
 * `["broadcast"]`, `["refresh"]`, `["close-handler", "on" | "off"]`.
 */
export type Call = string[];

export function isMutation(call: Call): boolean {
  return call[0] === "set" || call[0] === "delete" || call[0] === "conn-set";
}

/** What a matching call does instead: fail with Windows error 5, or "crash" before/after it. */
export type Fault = "denied" | "crash-before" | "crash-after";

interface Stored {
  name: string;
  type: number;
  bytes: Uint8Array;
}

/**
 * HKCU and the rest of {@link WindowsSystem}, in memory. A "crash" fault calls `onCrash` at
 * that moment (the world takes a snapshot to rewind to) and lets the call go on.
 */
export class FakeRegistry implements WindowsSystem {
  readonly #values = new Map<string, Stored>();
  readonly #faults: { match: (call: Call) => boolean; fault: Fault }[] = [];
  readonly calls: Call[] = [];
  readonly closeHandlers = new Set<() => void>();
  /** Called with every call before it is answered (to look at the state file at that moment). */
  observe: (call: Call) => void = () => {};
  onCrash: () => void = () => {};
  broadcastWorks = true;
  /** WinINet's per-connection settings, when a test gives them (see FakeConnections). */
  connections?: ConnectionOptions;
  refreshWorks: InternetRefresh = { settingsChanged: true, refresh: true };
  readonly registry = {
    get: (key: string, name: string) => this.#call(["get", key, name], () => this.get(key, name)),
    set: (key: string, name: string, value: RegValue) =>
      this.#call(
        ["set", key, name, value.type, String(value.data)],
        () => this.set(key, name, value),
      ),
    delete: (key: string, name: string) =>
      this.#call(["delete", key, name], () => void this.delete(key, name)),
  };

  constructor(initial: Seed = []) {
    for (const [key, name, value] of initial) this.set(key, name, value);
  }

  get(key: string, name: string): RegValue | null {
    const stored = this.#values.get(slot(key, name));
    return stored ? decodeRegData(stored.name, stored.type, stored.bytes) : null;
  }

  set(key: string, name: string, value: RegValue): void {
    this.setRaw(key, name, encodeRegData(value).type, encodeRegData(value).bytes);
  }

  /** Stores exact bytes of any type (e.g. REG_BINARY = 3). */
  setRaw(key: string, name: string, type: number, bytes: Uint8Array): void {
    const existing = this.#values.get(slot(key, name));
    this.#values.set(slot(key, name), { name: existing?.name ?? name, type, bytes });
  }

  delete(key: string, name: string): boolean {
    return this.#values.delete(slot(key, name));
  }

  /** Everything, for comparing whole registry states. */
  snapshot(): Record<string, RegValue> {
    return Object.fromEntries(
      [...this.#values].map(([k, v]) => [k, decodeRegData(v.name, v.type, v.bytes)]),
    );
  }

  /** The raw contents, to rewind to after a simulated crash. */
  dump(): Map<string, Stored> {
    return new Map(this.#values);
  }

  load(values: Map<string, Stored>): void {
    this.#values.clear();
    for (const [k, v] of values) this.#values.set(k, v);
  }

  get mutations(): Call[] {
    return this.calls.filter(isMutation);
  }

  fail(match: (call: Call) => boolean, fault: Fault): void {
    this.#faults.push({ match, fault });
  }

  /** The problem is fixed: calls behave normally again. */
  clearFaults(): void {
    this.#faults.length = 0;
  }

  broadcastEnvironment(): boolean {
    this.calls.push(["broadcast"]);
    return this.broadcastWorks;
  }

  refreshInternetSettings(): InternetRefresh {
    this.calls.push(["refresh"]);
    return this.refreshWorks;
  }

  onConsoleClose(handler: () => void): () => void {
    this.calls.push(["close-handler", "on"]);
    this.closeHandlers.add(handler);
    return () => {
      if (this.closeHandlers.delete(handler)) this.calls.push(["close-handler", "off"]);
    };
  }

  /** The console window is closed: every registered handler runs, synchronously. */
  closeConsole(): void {
    for (const handler of [...this.closeHandlers]) handler();
  }

  /** Records `call` and answers it with `body`, faults included (for FakeConnections). */
  run<T>(call: Call, body: () => T): T {
    return this.#call(call, body);
  }

  #call<T>(call: Call, body: () => T): T {
    this.calls.push(call);
    this.observe(call);
    const fault = this.#faults.find((f) => f.match(call))?.fault;
    if (fault === "denied") {
      throw new RegistryError(`${call[0]} ${call[1]}\\${call[2]} failed with Windows error 5`);
    }
    if (fault === "crash-before") this.onCrash();
    const result = body();
    if (fault === "crash-after") this.onCrash();
    return result;
  }
}

function slot(key: string, name: string): string {
  return `${key}\\${name}`.toLowerCase();
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

  removeSync(path: string): void {
    this.files.delete(path);
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
    if (this.broken) return Promise.reject(new ProcessProbeError("cannot list processes"));
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
  #atCrash: { values: ReturnType<FakeRegistry["dump"]>; files: Map<string, string> } | undefined;

  constructor(initial: Seed = []) {
    this.registry = new FakeRegistry(initial);
    this.registry.onCrash = () => {
      this.#atCrash ??= { values: this.registry.dump(), files: new Map(this.fs.files) };
    };
  }

  /** The deps of a ktctl process with `pid` (started at `started`), running now. */
  process(pid: number, platform: Platform = "windows"): SysProxyDeps {
    this.probe.running.set(pid, `started:${pid}`);
    return {
      runner: { run: (cmd) => Promise.reject(new ExecutableNotFoundError(cmd)) },
      windows: this.registry,
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

  /**
   * The process with `pid` died at the simulated crash: registry and files go back to how they
   * were at that moment (whatever it did afterwards never happened).
   */
  dieAtCrash(pid: number): void {
    if (!this.#atCrash) throw new Error("no crash happened");
    this.registry.load(this.#atCrash.values);
    this.fs.files.clear();
    for (const [path, text] of this.#atCrash.files) this.fs.files.set(path, text);
    this.#atCrash = undefined;
    this.kill(pid);
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

/** A connection with no proxy at all (what a fresh profile has). */
export const NO_PROXY_SETTINGS: ConnectionSettings = {
  flags: PROXY_TYPE_DIRECT,
  proxyServer: null,
  bypass: null,
  autoConfigUrl: null,
};

/** Where the fake keeps each connection's settings (as Windows keeps its binary values). */
export const CONNECTIONS = `${INET}\\Connections`;
const LAN_VALUE = "DefaultConnectionSettings";

/**
 * WinINet's per-connection settings, kept as JSON values under {@link CONNECTIONS} in a
 * {@link FakeRegistry} (so registry snapshots, crashes and rewinds cover them too). Setting the
 * LAN rewrites its legacy registry values as Windows does: `ProxyEnable` (0 or 1, written even
 * when it was absent), `ProxyServer`, `ProxyOverride` and `AutoConfigURL` (deleted when unset).
 * `wineLike` makes it behave as Wine 8's: every connection name means the LAN, which is read
 * back from the legacy values with flags DIRECT or PROXY only (writing `ProxyEnable=0` when there
 * is none), and bypass and auto-config URL dropped. Calls are recorded in the registry's call log as `["conn-get", name]` and
 * `["conn-set", name, JSON]`.
 */
export class FakeConnections implements ConnectionOptions {
  wineLike = false;
  /** How this "Windows" stores what it is given (e.g. drops a flag); default as given. */
  normalise: (settings: ConnectionSettings) => ConnectionSettings = (s) => s;
  /** Calls that fail: `get:NAME` or `set:NAME` (NAME "" for the LAN). */
  readonly failing = new Set<string>();

  constructor(
    private readonly registry: FakeRegistry,
    readonly entries: string[] = [],
    initial: Array<[ConnectionName, ConnectionSettings]> = [],
  ) {
    for (const name of entries) this.#store(name, NO_PROXY_SETTINGS);
    if (this.#load(null) === undefined) this.#store(null, this.#lanFromRegistry());
    for (const [name, settings] of initial) {
      if (name === null) this.#writeLan(settings);
      else this.#store(name, settings);
    }
  }

  rasEntries(): string[] {
    this.registry.calls.push(["conn-ras"]);
    return this.wineLike ? [] : [...this.entries];
  }

  get(connection: ConnectionName): ConnectionSettings {
    this.registry.calls.push(["conn-get", String(connection)]);
    if (this.failing.has(`get:${connection ?? ""}`)) throw new WinInetError("get failed: error 5");
    // Wine 8's WinINet writes the ProxyEnable it assumes when there is none.
    if (this.wineLike && this.registry.get(INET, "ProxyEnable") === null) {
      this.registry.set(INET, "ProxyEnable", { type: "REG_DWORD", data: 0 });
    }
    return this.peek(connection);
  }

  set(connection: ConnectionName, settings: ConnectionSettings): void {
    const call = ["conn-set", String(connection), JSON.stringify(settings)];
    this.registry.run(call, () => {
      if (this.failing.has(`set:${connection ?? ""}`)) {
        throw new WinInetError("set failed: error 5");
      }
      if (connection === null || this.wineLike) this.#writeLan(settings);
      else this.#store(connection, this.normalise(settings));
    });
  }

  /** The settings of one connection as stored (no call recorded). */
  peek(connection: ConnectionName): ConnectionSettings {
    if (this.wineLike) return this.#lanFromRegistry();
    const found = this.#load(connection);
    if (!found) throw new WinInetError(`no connection ${connection}`);
    return found;
  }

  #store(connection: ConnectionName, settings: ConnectionSettings): void {
    this.registry.set(CONNECTIONS, connection ?? LAN_VALUE, {
      type: "REG_SZ",
      data: JSON.stringify(settings),
    });
  }

  #load(connection: ConnectionName): ConnectionSettings | undefined {
    const value = this.registry.get(CONNECTIONS, connection ?? LAN_VALUE);
    return value && value.type === "REG_SZ" ? JSON.parse(value.data) : undefined;
  }

  #writeLan(settings: ConnectionSettings): void {
    if (!this.wineLike) this.#store(null, settings);
    const put = (name: string, text: string | null) => {
      if (text === null) this.registry.delete(INET, name);
      else this.registry.set(INET, name, { type: "REG_SZ", data: text });
    };
    this.registry.set(INET, "ProxyEnable", {
      type: "REG_DWORD",
      data: (settings.flags & PROXY_TYPE_PROXY) !== 0 ? 1 : 0,
    });
    put("ProxyServer", settings.proxyServer);
    if (!this.wineLike) {
      put("ProxyOverride", settings.bypass);
      put("AutoConfigURL", settings.autoConfigUrl);
    }
  }

  #lanFromRegistry(): ConnectionSettings {
    const text = (name: string) => {
      const v = this.registry.get(INET, name);
      return v && v.type !== "REG_DWORD" ? v.data : null;
    };
    const enable = this.registry.get(INET, "ProxyEnable");
    const on = enable?.type === "REG_DWORD" && enable.data !== 0;
    if (this.wineLike) {
      return {
        flags: on ? PROXY_TYPE_PROXY : PROXY_TYPE_DIRECT,
        proxyServer: text("ProxyServer"),
        bypass: null,
        autoConfigUrl: null,
      };
    }
    const pac = text("AutoConfigURL");
    return {
      flags: PROXY_TYPE_DIRECT | (on ? PROXY_TYPE_PROXY : 0) |
        (pac ? PROXY_TYPE_AUTO_PROXY_URL : 0),
      proxyServer: text("ProxyServer"),
      bypass: text("ProxyOverride"),
      autoConfigUrl: pac,
    };
  }
}
