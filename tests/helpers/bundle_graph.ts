/**
 * Which files of a bundle (scripts/bundle.ts: an entry and its chunks) a command evaluates: the
 * entry, what it imports statically, and the chunks it loads with `import()` whose names start
 * with one of `follow` (e.g. "run-", "connect-"), with what those import statically.
 */
import { join } from "node:path";

/** Static imports (`import ... from "./x.js"`, `import "./x.js"`, `export ... from "x"`). */
const STATIC_IMPORT = /^(?:import|export)\b[^;"]*?(?:from\s*)?"([^"]+)";?$/gm;
const DYNAMIC_IMPORT = /\bimport\("\.\/([^"]+)"\)/g;

export interface Loaded {
  /** File name (in `dir`) → its text, in the order reached. */
  files: Map<string, string>;
  /** Every `node:` module imported statically, as `file: node:x`. */
  nodeImports: string[];
}

export async function loadedBy(
  dir: string,
  entry: string,
  follow: readonly string[] = [],
): Promise<Loaded> {
  const files = new Map<string, string>();
  const nodeImports: string[] = [];
  const visit = async (name: string): Promise<void> => {
    if (files.has(name)) return;
    const text = await Deno.readTextFile(join(dir, name));
    files.set(name, text);
    for (const [, spec] of text.matchAll(STATIC_IMPORT)) {
      if (spec.startsWith("node:")) nodeImports.push(`${name}: ${spec}`);
      else if (spec.startsWith("./")) await visit(spec.slice(2));
      else throw new Error(`${name} imports ${spec}: a bundle imports only its chunks and node:`);
    }
    for (const [, target] of text.matchAll(DYNAMIC_IMPORT)) {
      if (follow.some((prefix) => target.startsWith(prefix))) await visit(target);
    }
  };
  await visit(entry);
  return { files, nodeImports };
}
