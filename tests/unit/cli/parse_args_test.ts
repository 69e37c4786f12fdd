/**
 * The command line's parser, word by word: `=` forms, short flags and clusters, repeatable flags,
 * defaults, `--`, help and version, and every error as the exact line the user reads.
 */
import assert from "node:assert/strict";
import { parseArgs, type ParseResult } from "../../../src/cli/parse_args.ts";
import { PROGRAM } from "../../../src/cli/command_spec.ts";
import { CONNECT_DEFAULTS, FORWARD_DEFAULTS } from "../../helpers/cli_defaults.ts";

const parse = (...args: string[]): ParseResult => parseArgs(PROGRAM, args);

function run(command: string, flags: Record<string, unknown>, operands: string[] = []) {
  return { kind: "run", command, flags, operands };
}

function assertError(args: string[], message: string): void {
  assert.deepEqual(parseArgs(PROGRAM, args), { kind: "error", message }, JSON.stringify(args));
}

Deno.test("parse: each command's defaults; booleans absent unless given", () => {
  assert.deepEqual(parse("connect"), run("connect", CONNECT_DEFAULTS));
  assert.deepEqual(parse("forward", "svc", "80"), run("forward", FORWARD_DEFAULTS, ["svc", "80"]));
  assert.deepEqual(parse("clean"), run("clean", {}));
  assert.deepEqual(parse("status"), run("status", {}));
  assert.deepEqual(parse("version"), run("version", {}));
});

Deno.test("parse: --flag value and --flag=value; a value may hold = and spaces", () => {
  const expected = run("connect", {
    ...CONNECT_DEFAULTS,
    method: "http",
    proxyPort: "0",
    upstreamProxy: "http://u:p=w@proxy:3128",
    clusterCIDR: "10.0.0.0/8, fd00::/8",
  });
  assert.deepEqual(
    parse(
      "connect",
      "--method",
      "http",
      "--proxyPort",
      "0",
      "--upstreamProxy",
      "http://u:p=w@proxy:3128",
      "--clusterCIDR",
      "10.0.0.0/8, fd00::/8",
    ),
    expected,
  );
  assert.deepEqual(
    parse(
      "connect",
      "--method=http",
      "--proxyPort=0",
      "--upstreamProxy=http://u:p=w@proxy:3128",
      "--clusterCIDR=10.0.0.0/8, fd00::/8",
    ),
    expected,
  );
  // An explicitly empty value is a value: the Validate step names the flag.
  assert.deepEqual(
    parse("connect", "--dialDirect="),
    run("connect", { ...CONNECT_DEFAULTS, dialDirect: "" }),
  );
  assert.deepEqual(
    parse("connect", "--dialDirect", ""),
    run("connect", { ...CONNECT_DEFAULTS, dialDirect: "" }),
  );
  // A value written with = may start with a dash; a lone "-" is a value too.
  assert.deepEqual(
    parse("connect", "--maxConnections=-1", "-n", "-"),
    run("connect", { ...CONNECT_DEFAULTS, maxConnections: "-1", namespace: "-" }),
  );
});

Deno.test("parse: short flags: -n value, -nvalue, -n=value, and boolean clusters", () => {
  const shop = run("connect", { ...CONNECT_DEFAULTS, namespace: "shop" });
  assert.deepEqual(parse("connect", "-n", "shop"), shop);
  assert.deepEqual(parse("connect", "-nshop"), shop);
  assert.deepEqual(parse("connect", "-n=shop"), shop);
  assert.deepEqual(
    parse("connect", "-dn", "shop", "-c", "/k/config"),
    run("connect", {
      ...CONNECT_DEFAULTS,
      debug: true,
      namespace: "shop",
      kubeconfig: "/k/config",
    }),
  );
  assert.deepEqual(
    parse("connect", "-d", "--namespace", "shop", "--kubeconfig=/k", "--context", "kind-kind"),
    run("connect", {
      ...CONNECT_DEFAULTS,
      debug: true,
      namespace: "shop",
      kubeconfig: "/k",
      context: "kind-kind",
    }),
  );
  assert.deepEqual(parse("clean", "-d", "--dryRun"), run("clean", { debug: true, dryRun: true }));
  assert.deepEqual(parse("status", "--json"), run("status", { json: true }));
});

Deno.test("parse: --forward repeats in order; other flags keep their last value", () => {
  assert.deepEqual(
    parse("connect", "--forward", "svc/a:1", "--proxyPort", "1", "--forward=b:2", "--proxyPort=2"),
    run("connect", { ...CONNECT_DEFAULTS, forward: ["svc/a:1", "b:2"], proxyPort: "2" }),
  );
  assert.deepEqual(
    parse("connect", "--forward", "a:1"),
    run("connect", { ...CONNECT_DEFAULTS, forward: ["a:1"] }),
  );
});

Deno.test("parse: every word after -- is connect's command, verbatim, flags and -- included", () => {
  const words = ["curl", "-sS", "-x", "http://127.0.0.1:1", "--help", "-v", "--", "-n", "x=y", ""];
  assert.deepEqual(
    parse("connect", "-d", "--method", "http", "--", ...words),
    run("connect", { ...CONNECT_DEFAULTS, debug: true, method: "http" }, words),
  );
  // Nothing after --: the proxy alone, as without it.
  assert.deepEqual(parse("connect", "--"), run("connect", CONNECT_DEFAULTS));
  // forward: -- ends the flags; what follows is operands.
  assert.deepEqual(
    parse("forward", "--", "svc", "-1"),
    run("forward", FORWARD_DEFAULTS, ["svc", "-1"]),
  );
});

Deno.test("parse: flags and operands interleave", () => {
  assert.deepEqual(
    parse("forward", "svc/db", "--address", "127.0.0.2", "5432", "-n", "demo", ":pg", "-d"),
    run(
      "forward",
      { ...FORWARD_DEFAULTS, address: "127.0.0.2", namespace: "demo", debug: true },
      ["svc/db", "5432", ":pg"],
    ),
  );
});

Deno.test("parse: help and version", () => {
  assert.deepEqual(parse(), { kind: "help", usageError: true });
  for (const args of [["-h"], ["--help"], ["help"], ["help", "--help"], ["-h", "connect"]]) {
    assert.deepEqual(parse(...args), { kind: "help" }, args.join(" "));
  }
  for (const command of ["connect", "forward", "clean", "status", "version"]) {
    assert.deepEqual(parse(command, "--help"), { kind: "help", command });
    assert.deepEqual(parse(command, "-h"), { kind: "help", command });
    assert.deepEqual(parse("help", command), { kind: "help", command });
  }
  // Help wins over every other mistake before --, never after it.
  assert.deepEqual(parse("connect", "--bogus", "--method", "-h"), {
    kind: "help",
    command: "connect",
  });
  assert.deepEqual(parse("forward", "-dh"), { kind: "help", command: "forward" });
  assert.deepEqual(parse("connect", "--", "-h"), run("connect", CONNECT_DEFAULTS, ["-h"]));
  assert.deepEqual(parse("-v"), { kind: "version" });
  assert.deepEqual(parse("--version"), { kind: "version" });
});

Deno.test("parse: unknown commands and flags, each one line, with a near name suggested", () => {
  assertError(["bogus"], "unknown command 'bogus'");
  assertError(["conect"], "unknown command 'conect' (did you mean connect?)");
  assertError(["help", "bogus"], "unknown command 'bogus'");
  assertError(["help", "stauts"], "unknown command 'stauts' (did you mean status?)");
  assertError(["--debug", "connect"], "unknown option '--debug'");
  assertError(["--nope=1"], "unknown option '--nope'");
  assertError(["connect", "--bogus"], "unknown option '--bogus'");
  assertError(["connect", "--proxyPort=99", "-d", "--bogus"], "unknown option '--bogus'");
  assertError(["connect", "--bogus=1"], "unknown option '--bogus'");
  assertError(
    ["connect", "--proxyport", "1"],
    "unknown option '--proxyport' (did you mean --proxyPort?)",
  );
  assertError(["connect", "--dryRun"], "unknown option '--dryRun'");
  assertError(["connect", "--no-debug"], "unknown option '--no-debug'");
  assertError(["connect", "-x"], "unknown option '-x'");
  assertError(["connect", "-dx"], "unknown option '-x'");
  assertError(["connect", "-v"], "unknown option '-v'");
  assertError(["clean", "-n", "x"], "unknown option '-n'");
  assertError(["status", "--debug"], "unknown option '--debug'");
});

Deno.test("parse: a value flag given last or followed by a flag is missing its value", () => {
  assertError(["connect", "--method"], "option '--method <method>' argument missing");
  assertError(["connect", "--method", "--debug"], "option '--method <method>' argument missing");
  assertError(
    ["connect", "--proxyPort", "--", "x"],
    "option '--proxyPort <port>' argument missing",
  );
  assertError(["connect", "--proxyPort", "-1"], "option '--proxyPort <port>' argument missing");
  assertError(["connect", "-n"], "option '-n, --namespace <name>' argument missing");
  assertError(["connect", "-dn", "-d"], "option '-n, --namespace <name>' argument missing");
  assertError(
    ["forward", "svc", "80", "--address"],
    "option '--address <address>' argument missing",
  );
  assertError(
    ["connect", "--forward", "a:1", "--forward"],
    "option '--forward <TARGET:[LOCAL:]REMOTE>' argument missing",
  );
});

Deno.test("parse: a value outside the choices is refused, naming them", () => {
  assertError(
    ["connect", "--method", "ftp"],
    "option '--method <method>' argument 'ftp' is invalid. Allowed choices are socks, socks5, http.",
  );
  assertError(
    ["connect", "--method="],
    "option '--method <method>' argument '' is invalid. Allowed choices are socks, socks5, http.",
  );
  assertError(
    ["forward", "svc", "1", "--portForward=spdy"],
    "option '--portForward <mode>' argument 'spdy' is invalid. Allowed choices are multiplexed, " +
      "websocket.",
  );
});

Deno.test("parse: a boolean never takes a value, nor swallows the next word", () => {
  assertError(["connect", "--debug=yes"], "option '-d, --debug' takes no value");
  assertError(["clean", "--dryRun=false"], "option '--dryRun' takes no value");
  assertError(["connect", "--help=1"], "option '-h, --help' takes no value");
  assertError(
    ["connect", "--debug", "foo"],
    'unexpected argument "foo": put -- before a command to run ' +
      "(ktctl connect [options] -- COMMAND [ARGS...])",
  );
  assertError(
    ["clean", "--dryRun", "x"],
    "too many arguments for 'clean'. Expected 0 arguments but got 1: x.",
  );
});

Deno.test("parse: missing and excess operands; connect's operands need --", () => {
  assertError(["forward"], "missing required argument 'target'");
  assertError(["forward", "-n", "demo", "svc"], "missing required argument 'ports'");
  assertError(
    ["clean", "extra"],
    "too many arguments for 'clean'. Expected 0 arguments but got 1: extra.",
  );
  assertError(
    ["status", "a", "b"],
    "too many arguments for 'status'. Expected 0 arguments but got 2: a, b.",
  );
  assertError(
    ["version", "x"],
    "too many arguments for 'version'. Expected 0 arguments but got 1: x.",
  );
  assertError(
    ["help", "connect", "x"],
    "too many arguments for 'help'. Expected 1 argument but got 2: connect, x.",
  );
  assertError(
    ["connect", "curl", "http://web"],
    'unexpected argument "curl": put -- before a command to run ' +
      "(ktctl connect [options] -- COMMAND [ARGS...])",
  );
  assertError(
    ["connect", "curl", "--", "x"],
    'unexpected argument "curl": put -- before a command to run ' +
      "(ktctl connect [options] -- COMMAND [ARGS...])",
  );
});

Deno.test("parse: the first error is the one reported", () => {
  assertError(["connect", "--bogus", "--method", "ftp"], "unknown option '--bogus'");
  assertError(
    ["connect", "--method", "ftp", "--bogus"],
    "option '--method <method>' argument 'ftp' is invalid. Allowed choices are socks, socks5, http.",
  );
});
