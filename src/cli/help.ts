/**
 * `--help`, rendered from the table in command_spec.ts in the layout commander printed (usage,
 * description, Arguments, Options with their choices and defaults, Commands, Examples), aligned
 * and wrapped to 80 columns. Pure: returns the text.
 * @module
 */
import {
  type CommandSpec,
  type FlagSpec,
  HELP_COMMAND,
  HELP_FLAG,
  type OperandSpec,
  type ProgramSpec,
  VERSION_FLAG,
} from "./command_spec.ts";
import { flagTerm } from "./parse_args.ts";

const WIDTH = 80;
/** Below this, a description column would be too narrow: it then starts on the next line. */
const MIN_DESCRIPTION_WIDTH = 30;

type Item = [term: string, description: string];

/** The program's help: `ktctl --help`, `ktctl help`, and (on stderr) `ktctl` alone. */
export function programHelp(program: ProgramSpec): string {
  const commands: Item[] = [...program.commands, HELP_COMMAND].map((c) => [
    `${c.name} ${commandUsage(c)}`.trimEnd(),
    c.description,
  ]);
  return render(`${program.name} [options] [command]`, program.description, [
    ["Options:", [VERSION_FLAG, HELP_FLAG].map(flagItem)],
    ["Commands:", commands],
  ], program.examples);
}

/** One command's help: `ktctl connect --help`, `ktctl help connect`. */
export function commandHelp(program: ProgramSpec, cmd: CommandSpec): string {
  const operands = cmd.operands.filter((o) => o.description !== "");
  return render(
    `${program.name} ${cmd.name} ${commandUsage(cmd)}`.trimEnd(),
    cmd.description,
    [
      ["Arguments:", operands.map((o): Item => [o.name, o.description])],
      ["Options:", [...cmd.flags, HELP_FLAG].map(flagItem)],
    ],
    cmd.examples,
  );
}

/** What follows the command's name in its usage line: `[options] <target> <ports...>`. */
function commandUsage(cmd: CommandSpec): string {
  if (cmd.usage !== undefined) return cmd.usage;
  return [cmd.flags.length > 0 ? "[options]" : "", ...cmd.operands.map(operandTerm)]
    .filter((s) => s !== "").join(" ");
}

function operandTerm(o: OperandSpec): string {
  const name = o.name + (o.variadic ? "..." : "");
  return o.required ? `<${name}>` : `[${name}]`;
}

/** The description with commander's suffix: ` (choices: "a", "b", default: "a")`. */
function flagItem(spec: FlagSpec): Item {
  const extra = [
    spec.choices ? `choices: ${spec.choices.map((c) => JSON.stringify(c)).join(", ")}` : "",
    spec.default !== undefined ? `default: ${JSON.stringify(spec.default)}` : "",
  ].filter((s) => s !== "");
  return [flagTerm(spec), spec.description + (extra.length ? ` (${extra.join(", ")})` : "")];
}

function render(
  usage: string,
  description: string,
  sections: [title: string, items: Item[]][],
  examples: string | undefined,
): string {
  const shown = sections.filter(([, items]) => items.length > 0);
  // One term column for every section, as commander aligned them.
  const termWidth = Math.max(...shown.flatMap(([, items]) => items.map(([t]) => t.length)));
  const lines = [`Usage: ${usage}`, "", ...wrap(description, WIDTH)];
  for (const [title, items] of shown) {
    lines.push("", title);
    for (const [term, text] of items) lines.push(...item(term, text, termWidth));
  }
  return lines.join("\n") + "\n" + (examples ?? "");
}

/** `  term    description`, the description wrapped in its column. */
function item(term: string, text: string, termWidth: number): string[] {
  const column = 2 + termWidth + 2;
  if (WIDTH - column < MIN_DESCRIPTION_WIDTH) {
    // Too narrow beside the term: the description goes below it, indented.
    return [`  ${term}`, ...wrap(text, WIDTH - 6).map((l) => `      ${l}`)];
  }
  const [first, ...rest] = wrap(text, WIDTH - column);
  return [
    `  ${term.padEnd(termWidth)}  ${first ?? ""}`.trimEnd(),
    ...rest.map((l) => " ".repeat(column) + l),
  ];
}

/** Greedy word wrap; a word longer than the width gets a line of its own. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line === "") line = word;
    else if (line.length + 1 + word.length <= width) line += " " + word;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}
