/**
 * `--help` as rendered from the command table: every flag with its description, choices and
 * default; every operand; every command; the Examples; the layout commander printed.
 */
import assert from "node:assert/strict";
import { commandHelp, programHelp, wrap } from "../../../src/cli/help.ts";
import { flagTerm } from "../../../src/cli/parse_args.ts";
import { HELP_FLAG, PROGRAM, VERSION_FLAG } from "../../../src/cli/command_spec.ts";

/** The help with its wrapping undone, to find a description whatever its line breaks. */
const flat = (text: string) => text.replace(/\s+/g, " ");

/** The part before the Examples, whose lines must fit 80 columns. */
const body = (text: string) => text.split("\nExamples:\n")[0];

Deno.test("help: every flag of every command is listed with its description, choices and default", () => {
  for (const cmd of PROGRAM.commands) {
    const help = commandHelp(PROGRAM, cmd);
    for (const f of [...cmd.flags, HELP_FLAG]) {
      const extras = [
        f.choices ? `choices: ${f.choices.map((c) => `"${c}"`).join(", ")}` : "",
        f.default !== undefined ? `default: "${f.default}"` : "",
      ].filter((s) => s !== "");
      const expected = `${flagTerm(f)} ${f.description}` +
        (extras.length ? ` (${extras.join(", ")})` : "");
      assert.ok(flat(help).includes(flat(expected)), `${cmd.name}: ${expected}`);
    }
    for (const o of cmd.operands) {
      assert.ok(flat(help).includes(flat(`${o.name} ${o.description}`)), `${cmd.name}: ${o.name}`);
    }
    if (cmd.examples) assert.ok(help.endsWith(cmd.examples), `${cmd.name}: examples`);
  }
  const connect = commandHelp(PROGRAM, PROGRAM.commands[0]);
  assert.ok(
    flat(connect).includes(
      "--method <method> what to print and set up: socks (SOCKS4a; the Windows system proxy), " +
        "socks5, or http (http_proxy/https_proxy and a PAC file); every mode serves all three " +
        '(choices: "socks", "socks5", "http", default: "socks")',
    ),
  );
  assert.ok(
    flat(connect).includes(
      "--maxConnections <count> the most connections open at once; " +
        'more are closed as they come (default: "4096")',
    ),
  );
  assert.match(connect, /^Usage: ktctl connect \[options\] \[-- COMMAND \[ARGS\.\.\.\]\]\n\n/);
  assert.match(connect, /\nArguments:\n {2}command {28}after --: run COMMAND/);
  assert.match(connect, /\nExamples:\n {2}ktctl connect --context prod -n shop/);
});

Deno.test("help: the program's help lists every command, -v and -h, and its Examples", () => {
  const help = programHelp(PROGRAM);
  assert.match(help, /^Usage: ktctl \[options\] \[command\]\n\nReach a Kubernetes cluster's/);
  for (const f of [VERSION_FLAG, HELP_FLAG]) {
    assert.ok(flat(help).includes(`${flagTerm(f)} ${f.description}`), f.long);
  }
  for (
    const [term, cmd] of [
      ["connect [options] [-- COMMAND [ARGS...]]", "connect"],
      ["forward [options] <target> <ports...>", "forward"],
      ["clean [options]", "clean"],
      ["status [options]", "status"],
      ["version", "version"],
    ]
  ) {
    const spec = PROGRAM.commands.find((c) => c.name === cmd)!;
    assert.ok(flat(help).includes(flat(`${term} ${spec.description}`)), cmd);
  }
  assert.ok(flat(help).includes("help [command] display help for command"));
  assert.ok(help.endsWith(PROGRAM.examples));
  const sections = [...help.matchAll(/^(\w+):$/gm)].map((m) => m[1]);
  assert.deepEqual(sections, ["Options", "Commands", "Examples"]);
});

Deno.test("help: aligned in one column and wrapped to 80 columns", () => {
  const helps = [programHelp(PROGRAM), ...PROGRAM.commands.map((c) => commandHelp(PROGRAM, c))];
  for (const help of helps) {
    for (const line of body(help).split("\n")) {
      assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
      assert.equal(line, line.trimEnd(), `trailing blanks: ${line}`);
    }
  }
  // commander's layout, byte for byte, for the smallest command.
  assert.equal(
    commandHelp(PROGRAM, PROGRAM.commands.find((c) => c.name === "clean")!),
    `Usage: ktctl clean [options]

put back the proxy settings a crashed connect left behind

Options:
  --dryRun     only print what would be done
  -d, --debug  log more detail
  -h, --help   display help for command

Examples:
  ktctl clean --dryRun                   # only say what would be put back
`,
  );
  assert.equal(
    commandHelp(PROGRAM, PROGRAM.commands.find((c) => c.name === "version")!),
    "Usage: ktctl version\n\nprint the version\n\nOptions:\n  -h, --help  display help for command\n",
  );
  // Continuation lines start under the description column.
  const forward = commandHelp(PROGRAM, PROGRAM.commands.find((c) => c.name === "forward")!);
  assert.match(
    forward,
    /\n {2}--portForward <mode> {6}multiplexed \(one connection per pod, Kubernetes\n {28}1\.30\+;/,
  );
});

Deno.test("help: wrap", () => {
  assert.deepEqual(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
  assert.deepEqual(wrap("  a\n b  ", 10), ["a b"]);
  assert.deepEqual(wrap("abcdefgh ij", 4), ["abcdefgh", "ij"]);
  assert.deepEqual(wrap("", 10), []);
});
