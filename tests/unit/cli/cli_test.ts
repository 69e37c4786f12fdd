/**
 * Flag validation of `ktctl connect`, the shell hint, and the console log format.
 */
import assert from "node:assert/strict";
import { CONNECT_DEFAULTS } from "../../helpers/cli_defaults.ts";
import type { LogLevel, LogRecord } from "@logtape/logtape";
import {
  type ConnectFlags,
  parseDirectPolicy,
  validateConnectFlags,
} from "../../../src/cli/connect_options.ts";
import { bannerLines, framedBanner, proxyUrlFor } from "../../../src/cli/banner.ts";
import { clientHost, hostPort } from "../../../src/net/client_address.ts";
import { parseCommandLine } from "../../../src/cli/main.ts";
import { detectShell, shellFromImage } from "../../../src/cli/shell_hint.ts";
import { formatClock, formatRecord } from "../../../src/cli/logging.ts";
import { UserError } from "../../../src/errors.ts";
import { formatCidr } from "../../../src/net/ip.ts";
import type { DirectPolicy } from "../../../src/route/direct.ts";

const DEFAULT_FLAGS = CONNECT_DEFAULTS;

const flags = (over: Partial<ConnectFlags>): ConnectFlags => ({ ...DEFAULT_FLAGS, ...over });

/** Asserts validateConnectFlags fails with a UserError whose message is exactly `message`. */
function assertFlagError(over: Partial<ConnectFlags>, message: string, flag: string): void {
  assert.throws(
    () => validateConnectFlags(flags(over)),
    (e: unknown) => {
      assert.ok(e instanceof UserError, `not a UserError: ${e}`);
      assert.equal(e.message, message);
      assert.ok(e.message.includes(flag), `"${e.message}" does not name ${flag}`);
      assert.equal(e.exitCode, 1);
      return true;
    },
    JSON.stringify(over),
  );
}

function describePolicy(p: DirectPolicy): string {
  return p.kind === "ranges" ? `ranges ${p.ranges.map(formatCidr).join(",")}` : p.kind;
}

// ---------------------------------------------------------------------------------------------
// validateConnectFlags

Deno.test("cli: the connect command's defaults validate to the documented options", () => {
  assert.deepEqual(parseCommandLine(["connect"]), {
    kind: "run",
    command: "connect",
    flags: DEFAULT_FLAGS,
    operands: [],
  });
  assert.deepEqual(validateConnectFlags(DEFAULT_FLAGS), {
    method: "socks",
    address: "127.0.0.1",
    port: 2223,
    setupGlobalProxy: false,
    clusterDomain: "cluster.local",
    direct: { kind: "all" },
    clusterRanges: [],
    portForward: "multiplexed",
    allowOtherUsers: false,
    allowFrom: undefined,
    maxConnections: 4096,
    kubeconfig: undefined,
    context: undefined,
    namespace: undefined,
    forwards: [],
    command: undefined,
  });
});

Deno.test("cli: every accepted flag is converted", () => {
  const opts = validateConnectFlags({
    method: "socks5",
    proxyPort: "1080",
    proxyAddr: "[::1]",
    setupGlobalProxy: true,
    clusterDomain: ".Corp.Internal.",
    dialDirect: "127.0.0.0/8, ::1/128",
    clusterCIDR: "10.244.0.0/16,10.96.0.0/12",
    portForward: "websocket",
    allowOtherUsers: true,
    allowFrom: "192.168.1.0/24, 10.0.0.5",
    maxConnections: "100",
    kubeconfig: "/tmp/kubeconfig",
    context: "kind-kind",
    namespace: "demo-1",
  });
  assert.deepEqual({
    ...opts,
    direct: describePolicy(opts.direct),
    clusterRanges: opts.clusterRanges.map(formatCidr),
    allowFrom: opts.allowFrom?.map(formatCidr),
  }, {
    method: "socks5",
    address: "::1",
    port: 1080,
    setupGlobalProxy: true,
    clusterDomain: "corp.internal",
    direct: "ranges 127.0.0.0/8,::1/128",
    clusterRanges: ["10.244.0.0/16", "10.96.0.0/12"],
    portForward: "websocket",
    allowOtherUsers: true,
    allowFrom: ["192.168.1.0/24", "10.0.0.5/32"],
    maxConnections: 100,
    kubeconfig: "/tmp/kubeconfig",
    context: "kind-kind",
    namespace: "demo-1",
    forwards: [],
    command: undefined,
  });
  assert.equal(validateConnectFlags(flags({ method: "http" })).method, "http");
  assert.equal(validateConnectFlags(flags({ proxyAddr: "localhost" })).address, "127.0.0.1");
  assert.equal(
    validateConnectFlags(flags({ proxyAddr: "0.0.0.0", allowFrom: "10.0.0.0/8" })).address,
    "0.0.0.0",
  );
  assert.equal(validateConnectFlags(flags({ proxyPort: "1" })).port, 1);
  assert.equal(validateConnectFlags(flags({ proxyPort: "65535" })).port, 65535);
  assert.equal(validateConnectFlags(flags({ proxyPort: "0" })).port, 0, "0: any free port");
});

Deno.test("cli: a bad --method is a UserError naming the flag", () => {
  for (const method of ["https", "SOCKS", "socks4", ""]) {
    assertFlagError(
      { method },
      `--method must be socks, socks5 or http, not "${method}"`,
      "--method",
    );
  }
});

Deno.test("cli: a bad --proxyPort is a UserError naming the flag", () => {
  for (const port of ["65536", "abc", "", "-1", "80.5", " 80", "1e3", "99999999"]) {
    assertFlagError(
      { proxyPort: port },
      `--proxyPort must be a port number from 1 to 65535 (0: any free port), not "${port}"`,
      "--proxyPort",
    );
  }
});

Deno.test("cli: a bad --proxyAddr is a UserError naming the flag", () => {
  for (const addr of ["example.com", "10.1", "256.0.0.1", "", "::1::2", "[10.0.0.1"]) {
    assertFlagError(
      { proxyAddr: addr },
      `--proxyAddr must be an IP address, not "${addr}"`,
      "--proxyAddr",
    );
  }
});

Deno.test("cli: a bad namespace is a UserError naming the flag", () => {
  for (const ns of ["Demo", "-demo", "demo-", "a_b", "a.b", "x".repeat(64), ""]) {
    assertFlagError(
      { namespace: ns },
      `-n/--namespace "${ns}" is not a valid namespace name`,
      "--namespace",
    );
  }
  assert.equal(
    validateConnectFlags(flags({ namespace: "x".repeat(63) })).namespace,
    "x".repeat(63),
  );
});

Deno.test("cli: a bad --clusterDomain is a UserError naming the flag", () => {
  for (const domain of ["bad_domain", "a..b", "", "-x.local", "x y"]) {
    assertFlagError(
      { clusterDomain: domain },
      `--clusterDomain "${domain}" is not a DNS name`,
      "--clusterDomain",
    );
  }
});

Deno.test("cli: a bad --dialDirect or --clusterCIDR range is a UserError naming the flag", () => {
  const cases: [string, string][] = [
    ["10.0.0.0/33", "10.0.0.0/33"],
    ["nope", "nope"],
    ["127.0.0.0/8, bad ", "bad"],
    ["::1/129", "::1/129"],
    ["10.96/12", "10.96/12"],
  ];
  for (const [text, bad] of cases) {
    assertFlagError(
      { dialDirect: text },
      `--dialDirect: "${bad}" is not an address range such as 10.0.0.0/8`,
      "--dialDirect",
    );
    assertFlagError(
      { clusterCIDR: text },
      `--clusterCIDR: "${bad}" is not an address range such as 10.0.0.0/8`,
      "--clusterCIDR",
    );
  }
});

Deno.test("cli: a --clusterCIDR address without a prefix length and an empty --dialDirect are refused", () => {
  assertFlagError(
    { clusterCIDR: "10.0.0.0" },
    '--clusterCIDR: "10.0.0.0" has no prefix length: write the range, such as 10.0.0.0/16',
    "--clusterCIDR",
  );
  assertFlagError(
    { clusterCIDR: "10.96.0.0/12, fd00::1" },
    '--clusterCIDR: "fd00::1" has no prefix length: write the range, such as fd00::1/16',
    "--clusterCIDR",
  );
  for (const dialDirect of ["", " ", ","]) {
    assertFlagError(
      { dialDirect },
      "--dialDirect is empty: give all, none, or address ranges such as 127.0.0.0/8",
      "--dialDirect",
    );
  }
});

Deno.test("cli: parseDirectPolicy", () => {
  assert.deepEqual(parseDirectPolicy("all"), { kind: "all" });
  assert.deepEqual(parseDirectPolicy(" ALL "), { kind: "all" });
  assert.deepEqual(parseDirectPolicy("none"), { kind: "none" });
  assert.deepEqual(parseDirectPolicy("off"), { kind: "none" });
  assert.equal(
    describePolicy(parseDirectPolicy("127.0.0.0/8,::1/128")),
    "ranges 127.0.0.0/8,::1/128",
  );
  assert.equal(
    describePolicy(parseDirectPolicy("10.0.0.0/8, 192.168.1.1,")),
    "ranges 10.0.0.0/8,192.168.1.1/32",
  );
  assert.throws(() => parseDirectPolicy("allow"), UserError);
});

Deno.test("cli: proxyUrlFor is http:// (every tool reads it) except in socks5 mode, which keeps socks5h://", () => {
  assert.equal(proxyUrlFor("socks", "127.0.0.1:2223"), "http://127.0.0.1:2223");
  assert.equal(proxyUrlFor("socks5", "127.0.0.1:1080"), "socks5h://127.0.0.1:1080");
  assert.equal(proxyUrlFor("http", "127.0.0.1:2223"), "http://127.0.0.1:2223");
  assert.equal(proxyUrlFor("socks5", hostPort("::1", 2223)), "socks5h://[::1]:2223");
});

Deno.test("cli: a 0.0.0.0 or :: listener is reached through loopback", () => {
  assert.equal(clientHost("0.0.0.0"), "127.0.0.1");
  assert.equal(clientHost("::"), "::1");
  assert.equal(clientHost("192.168.1.5"), "192.168.1.5");
  assert.equal(hostPort("fe80::1", 8), "[fe80::1]:8");
});

// ---------------------------------------------------------------------------------------------
// Banner and shell

Deno.test("cli: the socks banner sets http_proxy and https_proxy to http:// and says the port speaks SOCKS4/5 and HTTP", () => {
  const tail = [
    "127.0.0.1:2223 speaks SOCKS4/4a, SOCKS5 and HTTP: SOCKS clients can use socks4a://127.0.0.1:2223 or socks5h://127.0.0.1:2223",
    "Java: -DsocksProxyHost=127.0.0.1 -DsocksProxyPort=2223 -Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=2223 -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=2223",
    "Browsers: proxy auto-config URL http://127.0.0.1:2223/proxy.pac",
  ];
  assert.deepEqual(bannerLines("socks", "cmd", "127.0.0.1", 2223), [
    "Start SOCKS Proxy: set http_proxy=http://127.0.0.1:2223",
    "Start SOCKS Proxy: set https_proxy=http://127.0.0.1:2223",
    ...tail,
  ]);
  assert.deepEqual(bannerLines("socks", "powershell", "127.0.0.1", 2223), [
    'Start SOCKS Proxy: $env:http_proxy="http://127.0.0.1:2223"; $env:https_proxy="http://127.0.0.1:2223"',
    ...tail,
  ]);
  assert.deepEqual(bannerLines("socks", "posix", "127.0.0.1", 2223), [
    "Start SOCKS Proxy: export http_proxy=http://127.0.0.1:2223 https_proxy=http://127.0.0.1:2223",
    ...tail,
  ]);
  assert.deepEqual(bannerLines("socks5", "posix", "::1", 1080), [
    "Start SOCKS5 Proxy: export http_proxy=socks5h://[::1]:1080",
    "[::1]:1080 speaks SOCKS4/4a, SOCKS5 and HTTP: HTTP-only tools can use http://[::1]:1080; browsers can use the PAC URL http://[::1]:1080/proxy.pac",
  ]);
  assert.deepEqual(bannerLines("socks", "unknown-windows", "127.0.0.1", 2223), [
    "Start SOCKS Proxy: set http_proxy=http://127.0.0.1:2223  (CMD)",
    "Start SOCKS Proxy: set https_proxy=http://127.0.0.1:2223  (CMD)",
    'Start SOCKS Proxy: $env:http_proxy="http://127.0.0.1:2223"; $env:https_proxy="http://127.0.0.1:2223"  (PowerShell)',
    ...tail,
  ]);
});

Deno.test("cli: the http banner sets http_proxy and https_proxy, and gives Java's flags and the PAC URL", () => {
  const java =
    "Java: -Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=2223 -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=2223";
  const pac = "Browsers: proxy auto-config URL http://127.0.0.1:2223/proxy.pac";
  assert.deepEqual(bannerLines("http", "cmd", "127.0.0.1", 2223), [
    "Start HTTP Proxy: set http_proxy=http://127.0.0.1:2223",
    "Start HTTP Proxy: set https_proxy=http://127.0.0.1:2223",
    java,
    pac,
  ]);
  assert.deepEqual(bannerLines("http", "powershell", "127.0.0.1", 2223), [
    'Start HTTP Proxy: $env:http_proxy="http://127.0.0.1:2223"; $env:https_proxy="http://127.0.0.1:2223"',
    java,
    pac,
  ]);
  assert.deepEqual(bannerLines("http", "posix", "127.0.0.1", 2223), [
    "Start HTTP Proxy: export http_proxy=http://127.0.0.1:2223 https_proxy=http://127.0.0.1:2223",
    java,
    pac,
  ]);
  assert.deepEqual(framedBanner(["ab", "abcd"]), ["----", "ab", "abcd", "----"]);
});

Deno.test("cli: shellFromImage classifies Windows parent images", () => {
  const cases: [string | undefined, string][] = [
    ["cmd.exe", "cmd"],
    ["CMD.EXE", "cmd"],
    ["powershell.exe", "powershell"],
    ["PowerShell.exe", "powershell"],
    ["pwsh.exe", "powershell"],
    ["explorer.exe", "unknown-windows"],
    ["bash.exe", "unknown-windows"],
    ["cmd", "unknown-windows"],
    ["", "unknown-windows"],
    [undefined, "unknown-windows"],
  ];
  for (const [image, shell] of cases) assert.equal(shellFromImage(image), shell, String(image));
});

Deno.test("cli: detectShell asks tasklist for the parent's image on Windows only", async () => {
  const calls: string[][] = [];
  const runner = (stdout: string, code = 0) => ({
    run(cmd: string, args: string[]) {
      calls.push([cmd, ...args]);
      return Promise.resolve({ code, stdout, stderr: "" });
    },
  });
  const row = '"powershell.exe","8812","Console","1","91,344 K"\r\n';
  assert.equal(await detectShell(runner(row), "windows", 8812), "powershell");
  assert.deepEqual(calls[0], ["tasklist", "/FI", "PID eq 8812", "/FO", "CSV", "/NH"]);
  assert.equal(await detectShell(runner('"cmd.exe","7","Console","1","4 K"'), "windows", 7), "cmd");
  // A row for another pid, an INFO line, or a failing tasklist: both forms are printed.
  assert.equal(await detectShell(runner(row), "windows", 1), "unknown-windows");
  assert.equal(await detectShell(runner("INFO: No tasks\r\n"), "windows", 7), "unknown-windows");
  assert.equal(await detectShell(runner(row, 1), "windows", 8812), "unknown-windows");
  calls.length = 0;
  assert.equal(await detectShell(runner(row), "linux", 8812), "posix");
  assert.deepEqual(calls, []);
});

// ---------------------------------------------------------------------------------------------
// Log format

const at = (h: number, m: number) => new Date(2025, 10, 26, h, m, 42, 123);

Deno.test("cli: formatClock is a 12-hour clock without leading zero on the hour", () => {
  const cases: [number, number, string][] = [
    [0, 5, "12:05AM"],
    [0, 0, "12:00AM"],
    [1, 0, "1:00AM"],
    [11, 59, "11:59AM"],
    [12, 0, "12:00PM"],
    [12, 30, "12:30PM"],
    [16, 31, "4:31PM"],
    [23, 9, "11:09PM"],
  ];
  for (const [h, m, text] of cases) assert.equal(formatClock(at(h, m)), text, `${h}:${m}`);
});

function record(level: LogLevel, message: unknown[]): LogRecord {
  return {
    category: ["ktctl", "test"],
    level,
    message,
    rawMessage: "",
    timestamp: at(16, 31).getTime(),
    properties: {},
  };
}

Deno.test("cli: formatRecord renders the time, level and message on one line", () => {
  assert.equal(
    formatRecord(record("info", ["Connected to ", "kind-kind", " with ", 3, " pods"])),
    "4:31PM INF Connected to kind-kind with 3 pods\n",
  );
  assert.equal(
    formatRecord(record("warning", ["policy ", { kind: "all" }, " list ", [1, "a"], ""])),
    '4:31PM WRN policy {"kind":"all"} list [1,"a"]\n',
  );
  const levels: [LogLevel, string][] = [
    ["trace", "TRC"],
    ["debug", "DBG"],
    ["info", "INF"],
    ["warning", "WRN"],
    ["error", "ERR"],
    ["fatal", "FTL"],
  ];
  for (const [level, label] of levels) {
    assert.equal(formatRecord(record(level, ["x"])), `4:31PM ${label} x\n`);
  }
});

Deno.test("cli: a bad --portForward is a UserError naming the flag", () => {
  for (const portForward of ["spdy", "Multiplexed", ""]) {
    assertFlagError(
      { portForward },
      `--portForward must be multiplexed or websocket, not "${portForward}"`,
      "--portForward",
    );
  }
});

Deno.test("cli: --upstreamProxy and --allowLocalTargets", () => {
  assert.deepEqual(validateConnectFlags(flags({ upstreamProxy: "none" })).upstream, {
    kind: "none",
  });
  assert.deepEqual(
    validateConnectFlags(flags({ upstreamProxy: "http://u:p%40ss@Proxy.Corp:3128" })).upstream,
    {
      kind: "fixed",
      other: { protocol: "http", host: "proxy.corp", port: 3128, username: "u", password: "p@ss" },
      bypass: [],
      bypassLocal: false,
      bypassStyle: "no_proxy",
    },
  );
  assert.deepEqual(
    validateConnectFlags(flags({ upstreamProxy: "socks5://127.0.0.1:1080" })).upstream,
    {
      kind: "fixed",
      other: { protocol: "socks5", host: "127.0.0.1", port: 1080 },
      bypass: [],
      bypassLocal: false,
      bypassStyle: "no_proxy",
    },
  );
  assert.deepEqual(
    validateConnectFlags(flags({ upstreamProxy: "pac+https://wpad.corp/proxy.pac" })).upstream,
    { kind: "pac", url: "https://wpad.corp/proxy.pac" },
  );
  assertFlagError(
    { upstreamProxy: "ftp://proxy:21" },
    "--upstreamProxy: ftp:// proxies are not supported (use http://, socks5:// or socks4a://)",
    "--upstreamProxy",
  );
  assert.equal(validateConnectFlags(flags({ allowLocalTargets: true })).allowLocalTargets, true);
  assert.equal(validateConnectFlags(flags({})).upstream, undefined);
});

Deno.test("cli: --proxyAddr beyond loopback needs --allowFrom; bad ranges and counts name the flag", () => {
  const need =
    "is reachable from other machines, and anyone who reaches it reaches the cluster as you: " +
    "pass --allowFrom with the address ranges that may connect (for example --allowFrom " +
    "192.168.1.0/24), or listen on 127.0.0.1";
  for (const addr of ["0.0.0.0", "::", "192.0.2.2", "fd00::2"]) {
    assertFlagError({ proxyAddr: addr }, `--proxyAddr ${addr} ${need}`, "--allowFrom");
    // --allowOtherUsers is about this machine's users: it never opens the port to others.
    assertFlagError(
      { proxyAddr: addr, allowOtherUsers: true },
      `--proxyAddr ${addr} ${need}`,
      "--allowFrom",
    );
  }
  for (const addr of ["127.0.0.1", "127.0.0.2", "::1", "localhost"]) {
    assert.equal(validateConnectFlags(flags({ proxyAddr: addr })).allowFrom, undefined, addr);
  }
  assertFlagError(
    { proxyAddr: "0.0.0.0", allowFrom: "192.168.1/24" },
    '--allowFrom: "192.168.1/24" is not an address range such as 10.0.0.0/8',
    "--allowFrom",
  );
  assertFlagError(
    { proxyAddr: "0.0.0.0", allowFrom: " , " },
    "--allowFrom needs at least one address range, such as 192.168.1.0/24",
    "--allowFrom",
  );
  for (const bad of ["0", "-1", "1e3", "lots", "1000001"]) {
    assertFlagError(
      { maxConnections: bad },
      `--maxConnections must be a number from 1 to 1000000, not "${bad}"`,
      "--maxConnections",
    );
  }
});
