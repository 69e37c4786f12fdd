/**
 * Test input written the way protocol specs write it.
 * @module
 */

/** Builds bytes from numbers, number arrays, byte arrays and (latin1) strings. */
export function bytes(...parts: (number | number[] | string | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (typeof p === "string") { for (const c of p) out.push(c.charCodeAt(0)); }
    else out.push(...p);
  }
  return new Uint8Array(out);
}
