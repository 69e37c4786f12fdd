/**
 * The command line's parser: words in, one decision out (run a command with its flags and
 * operands, print help, print the version, or one error message). Pure: no I/O, no exit; main.ts
 * acts on the result. It reads the table in command_spec.ts.
 *
 * A hand tokenizer, not a library. commander (what ktctl used before) is CommonJS and loads
 * node:child_process, node:events, node:fs, node:path, node:process and node:util, and Deno's
 * Node compatibility scripts were a quarter of `connect`'s start-up. mri (npm:mri@1.2.0, ESM, no
 * imports) was the candidate for the tokenizing, and was tried on every case below; it cannot
 * express four of them: a value flag given last or followed by another flag (`--method` and
 * `--method --debug`) gives the same "" as an explicitly empty `--method ""`, so "argument
 * missing" cannot be reported; `--debug=yes` silently becomes `debug: true` plus an operand
 * "yes"; `--no-method` sets a string flag to `false`; and `--` merges the words after it into
 * the operands, so `connect foo` and `connect -- foo` look alike. Working around those costs more
 * lines than this tokenizer.
 *
 * The rules (getopt's, as commander applied them): `--name value` and `--name=value`; `-n value`,
 * `-nvalue` and `-n=value`; boolean short flags combine (`-dn shop`); a boolean never takes a
 * value (`--debug=x` is an error, `--debug word` leaves `word` an operand); a value flag given
 * last or followed by a word starting with `-` is "argument missing" (write `--flag=-x` for such
 * a value); a repeatable flag collects every value, another flag keeps its last one; flags and
 * operands may interleave; `--` ends the flags and everything after it is kept verbatim; `-h` or
 * `--help` anywhere before `--` prints the command's help, whatever else is wrong.
 * @module
 */
import {
  type CommandSpec,
  findCommand,
  type FlagSpec,
  HELP_FLAG,
  type ProgramSpec,
  VERSION_FLAG,
} from "./command_spec.ts";

/** The flags as handed to the command: long name → value (booleans only when given). */
export type FlagValues = Record<string, string | boolean | string[]>;

export type ParseResult =
  /** `operands`: for a command with `dashDashCommand`, the words after `--`. */
  | { kind: "run"; command: string; flags: FlagValues; operands: string[] }
  /** Help for `command` (undefined: the program's); `usageError`: no command was given. */
  | { kind: "help"; command?: string; usageError?: boolean }
  | { kind: "version" }
  /** One line, without the "(see --help)" that main.ts adds. */
  | { kind: "error"; message: string };

export function parseArgs(program: ProgramSpec, args: readonly string[]): ParseResult {
  if (args.length === 0) return { kind: "help", usageError: true };
  const first = args[0];
  if (isFlag(first, HELP_FLAG)) return { kind: "help" };
  if (isFlag(first, VERSION_FLAG)) return { kind: "version" };
  if (first.startsWith("-") && first !== "-") {
    return { kind: "error", message: `unknown option '${flagName(first)}'` };
  }
  if (first === "help") {
    const rest = args.slice(1);
    if (rest.length === 0) return { kind: "help" };
    if (rest.length > 1) return excess("help", 1, rest);
    if (isFlag(rest[0], HELP_FLAG)) return { kind: "help" };
    const cmd = findCommand(program, rest[0]);
    return cmd ? { kind: "help", command: cmd.name } : unknownCommand(program, rest[0]);
  }
  const cmd = findCommand(program, first);
  if (!cmd) return unknownCommand(program, first);
  return parseCommand(cmd, args.slice(1));
}

function parseCommand(cmd: CommandSpec, words: readonly string[]): ParseResult {
  const flags: FlagValues = {};
  const operands: string[] = [];
  let afterDashDash: string[] | undefined;
  let help = false;
  let error: string | undefined;
  const fail = (message: string) => error ??= message;

  /** Stores a value flag's value; `next` gives the following word when the flag has none. */
  const setValue = (spec: FlagSpec, inline: string | undefined, next: () => string | undefined) => {
    const value = inline ?? next();
    if (value === undefined) return fail(`option '${flagTerm(spec)}' argument missing`);
    if (spec.choices && !spec.choices.includes(value)) {
      return fail(
        `option '${flagTerm(spec)}' argument '${value}' is invalid. Allowed choices are ` +
          `${spec.choices.join(", ")}.`,
      );
    }
    if (spec.repeatable) {
      const old = flags[spec.long];
      flags[spec.long] = [...(Array.isArray(old) ? old : []), value];
    } else flags[spec.long] = value;
  };

  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    /** The next word as a flag's value, unless there is none or it looks like a flag. */
    const next = () => {
      const w = words[i + 1];
      if (w === undefined || looksLikeFlag(w)) return undefined;
      i++;
      return w;
    };
    if (word === "--") {
      afterDashDash = words.slice(i + 1);
      break;
    }
    if (word.startsWith("--")) {
      const eq = word.indexOf("=");
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      const inline = eq < 0 ? undefined : word.slice(eq + 1);
      const spec = name === HELP_FLAG.long ? HELP_FLAG : cmd.flags.find((f) => f.long === name);
      if (!spec) {
        fail(`unknown option '--${name}'${suggestion(name, cmd.flags.map((f) => f.long), "--")}`);
      } else if (!spec.value) {
        if (inline !== undefined) fail(`option '${flagTerm(spec)}' takes no value`);
        else if (spec === HELP_FLAG) help = true;
        else flags[spec.long] = true;
      } else setValue(spec, inline, next);
    } else if (word.startsWith("-") && word.length > 1) {
      // A cluster of short flags: booleans first, then at most one value flag, whose value is
      // the rest of the word (`-nshop`, `-n=shop`) or the next word.
      for (let j = 1; j < word.length; j++) {
        const letter = word[j];
        const spec = letter === HELP_FLAG.short
          ? HELP_FLAG
          : cmd.flags.find((f) => f.short === letter);
        if (!spec) {
          fail(`unknown option '-${letter}'`);
          break;
        }
        if (!spec.value) {
          if (spec === HELP_FLAG) help = true;
          else flags[spec.long] = true;
          continue;
        }
        const rest = word.slice(j + 1);
        setValue(spec, rest === "" ? undefined : rest.replace(/^=/, ""), next);
        break;
      }
    } else operands.push(word);
  }
  if (help) return { kind: "help", command: cmd.name };
  if (error !== undefined) return { kind: "error", message: error };

  for (const spec of cmd.flags) {
    if (spec.default !== undefined && flags[spec.long] === undefined) {
      flags[spec.long] = spec.default;
    }
  }

  if (cmd.dashDashCommand) {
    if (operands.length > 0) {
      return {
        kind: "error",
        message: `unexpected argument "${operands[0]}": ${cmd.dashDashCommand.hint}`,
      };
    }
    return { kind: "run", command: cmd.name, flags, operands: afterDashDash ?? [] };
  }
  operands.push(...(afterDashDash ?? []));
  let taken = 0;
  for (const spec of cmd.operands) {
    const count = spec.variadic ? operands.length - taken : Math.min(1, operands.length - taken);
    if (spec.required && count === 0) {
      return { kind: "error", message: `missing required argument '${spec.name}'` };
    }
    taken += count;
  }
  if (taken < operands.length) return excess(cmd.name, cmd.operands.length, operands.slice(taken));
  return { kind: "run", command: cmd.name, flags, operands };
}

/** How help and errors name a flag: `-n, --namespace <name>`. */
export function flagTerm(spec: FlagSpec): string {
  return (spec.short ? `-${spec.short}, ` : "") + `--${spec.long}` +
    (spec.value ? ` <${spec.value}>` : "");
}

function isFlag(word: string, spec: FlagSpec): boolean {
  return word === `--${spec.long}` || word === `-${spec.short}`;
}

/** A word that is a flag, not a value: `-x`, `--x`, `--`; a lone `-` is a value (stdin). */
function looksLikeFlag(word: string): boolean {
  return word.startsWith("-") && word.length > 1;
}

function flagName(word: string): string {
  const eq = word.indexOf("=");
  return eq < 0 ? word : word.slice(0, eq);
}

function unknownCommand(program: ProgramSpec, name: string): ParseResult {
  const names = [...program.commands.map((c) => c.name), "help"];
  return { kind: "error", message: `unknown command '${name}'${suggestion(name, names, "")}` };
}

function excess(command: string, expected: number, extra: readonly string[]): ParseResult {
  return {
    kind: "error",
    message: `too many arguments for '${command}'. Expected ${expected} argument` +
      `${expected === 1 ? "" : "s"} but got ${extra.length}: ${extra.join(", ")}.`,
  };
}

/** ` (did you mean --proxyPort?)` for a name that differs in case or by up to two edits. */
function suggestion(name: string, known: readonly string[], prefix: string): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === name.toLowerCase()
      ? 0
      : editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && name.length > 1 ? ` (did you mean ${prefix}${best}?)` : "";
}

/** Levenshtein distance; the names are short, so the O(n·m) table is nothing. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}
