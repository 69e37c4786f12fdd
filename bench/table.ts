/** Rendering of the final table (plain text, aligned, pipe-separated so it pastes as Markdown). */

export type Cell = string | number;

/** Formats a number with `digits` decimals; NaN/undefined as "n/a". */
export function fmt(x: number | undefined, digits = 1): string {
  if (x === undefined || !Number.isFinite(x)) return "n/a";
  return x.toFixed(digits);
}

/** A ratio as "1.23x". */
export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : "n/a";
}

/** Renders rows as a Markdown table with aligned columns. */
export function table(header: string[], rows: Cell[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    "| " + widths.map((w, i) => (r[i] ?? "").padEnd(w)).join(" | ") + " |";
  return [
    line(cells[0]),
    "| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |",
    ...cells.slice(1).map(line),
  ].join("\n");
}
