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

/** Reads exactly `n` bytes; throws if the peer closes first. */
export async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) throw new Error(`closed after ${off} of ${n} bytes`);
    off += got;
  }
  return out;
}
