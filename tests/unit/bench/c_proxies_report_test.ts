/**
 * bench/c_proxies.ts's table: ktctl's rows are judged against the fastest C proxy of each
 * column, other rows are not, and every row shows its CPU against the bare Deno relay's floor.
 */
import assert from "node:assert/strict";
import { report, type RowFigures } from "../../../bench/c_proxies.ts";

const row = (name: string, via: string, p50: number, cpu: number, gbps: number): RowFigures => ({
  name,
  via,
  gets: [p50, p50, p50 * 2],
  cpuMsPerConn: cpu,
  gbps: [gbps],
});

function cells(text: string, name: string, via: string): string[] {
  const line = text.split("\n").find((l) => {
    const c = l.split("|").map((x) => x.trim());
    return c[1] === name && c[2] === via;
  });
  if (!line) throw new Error(`no row ${name} ${via} in:\n${text}`);
  return line.split("|").slice(1, -1).map((c) => c.trim());
}

const o = { rounds: 1, gets: 3, bulkBytes: 1 << 20 };

Deno.test("c_proxies report: ktctl against each column's fastest anchor, with the floor", () => {
  const text = report([
    row("no proxy", "none", 0.2, NaN, 3),
    row("ktctl", "SOCKS5", 0.5, 0.6, 1.5),
    row("ktctl", "CONNECT", 0.4, 0.25, 1.0),
    row("bare Deno relay", "SOCKS5", 0.4, 0.3, 1.4),
    row("tinyproxy", "CONNECT", 0.45, 0.32, 0.4),
    row("microsocks", "SOCKS5", 0.42, 0.27, 0.3),
    row("squid", "CONNECT", 0.5, 0.25, 1.1),
    row("dante", "SOCKS5", 0.3, 0.1, 2.0), // shown, never an anchor
  ], o);
  const socks = cells(text, "ktctl", "SOCKS5");
  // GET: anchor microsocks (0.42); CPU: anchor squid (0.25); bulk: anchor squid (1.1).
  assert.deepStrictEqual(socks.slice(4, 6), ["1.19x of microsocks", "not met"]);
  assert.deepStrictEqual(socks.slice(6, 10), [
    "0.600",
    "2.40x of squid",
    "not met",
    "2.00x (+0.300)",
  ]);
  assert.deepStrictEqual(socks.slice(11, 13), ["1.36x of squid", "met"]);
  const connect = cells(text, "ktctl", "CONNECT");
  assert.deepStrictEqual(connect[5], "met");
  assert.deepStrictEqual(connect[8], "met"); // 0.25 <= 1.0x of 0.25
  assert.deepStrictEqual(connect[12], "not met"); // 1.0 GB/s against squid's 1.1
  // Rows that are not ktctl are not judged; the no-proxy row has no CPU.
  assert.deepStrictEqual(cells(text, "bare Deno relay", "SOCKS5")[8], "-");
  assert.deepStrictEqual(cells(text, "no proxy", "none").slice(6, 10), ["-", "-", "-", "-"]);
});
