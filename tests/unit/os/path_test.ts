/**
 * src/os/path.ts against node:path, the behaviour it replaces, over generated POSIX and Windows
 * paths (separators doubled and mixed, `.` and `..`, drive letters, UNC roots), and the cases
 * ktctl meets: kubeconfig folders, relative certificate paths, home folders.
 */
import assert from "node:assert/strict";
import nodePath from "node:path";
import { posix, win32 } from "../../../src/os/path.ts";
import { Rng } from "../../../fuzz/rng.ts";

const PIECES = ["a", "bc", ".kube", "config", ".", "..", "/", "//", "\\", "\\\\", "C:", "x:", " "];

function generated(count: number, seed: number): string[] {
  const rng = new Rng(seed);
  const out = [
    "",
    ".",
    "..",
    "/",
    "\\",
    "//",
    "\\\\",
    "C:",
    "C:\\",
    /** Device paths (`\\.\x`, `\\?\x`) and reserved names (CON, NUL): not what ktctl meets. */
    "\\\\srv",
    "\\\\srv\\share",
  ];
  for (let i = 0; i < count; i++) {
    let p = "";
    const n = rng.range(1, 6);
    for (let j = 0; j < n; j++) p += rng.pick(PIECES);
    out.push(p);
  }
  return out;
}

/** `\\\\.\\` and `\\\\?\\` device paths and reserved names (CON, NUL) are outside what ktctl meets. */
const CASES = generated(4000, 23).filter((p) => !/^[\\/]{2}[.?]([\\/]|$)/.test(p));

for (
  const [name, ours, node] of [["posix", posix, nodePath.posix], [
    "win32",
    win32,
    nodePath.win32,
  ]] as const
) {
  Deno.test(`path (${name}): isAbsolute and dirname give node:path's results`, () => {
    for (const p of CASES) {
      assert.equal(ours.isAbsolute(p), node.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
      assert.equal(ours.dirname(p), node.dirname(p), `dirname(${JSON.stringify(p)})`);
    }
  });

  Deno.test(`path (${name}): join gives node:path's results`, () => {
    const rng = new Rng(7);
    for (let i = 0; i < 6000; i++) {
      const parts = Array.from({ length: rng.range(1, 3) }, () => rng.pick(CASES));
      assert.equal(ours.join(...parts), node.join(...parts), `join(${JSON.stringify(parts)})`);
    }
  });

  Deno.test(`path (${name}): sep and delimiter are node:path's`, () => {
    assert.equal(ours.sep, node.sep);
    assert.equal(ours.delimiter, node.delimiter);
  });
}

Deno.test("path: the cases ktctl meets", () => {
  assert.equal(posix.join("/home/me", ".kube", "config"), "/home/me/.kube/config");
  assert.equal(posix.join("/home/me/.kube", "../certs/ca.pem"), "/home/me/certs/ca.pem");
  assert.equal(posix.dirname("/home/me/.kube/config"), "/home/me/.kube");
  assert.equal(win32.join("C:", "\\Users\\me"), "C:\\Users\\me");
  assert.equal(
    win32.join("C:\\Users\\me\\.kube", "certs/ca.pem"),
    "C:\\Users\\me\\.kube\\certs\\ca.pem",
  );
  assert.equal(win32.dirname("C:\\Users\\me\\.kube\\config"), "C:\\Users\\me\\.kube");
  assert.equal(win32.dirname("\\\\srv\\share\\kube\\config"), "\\\\srv\\share\\kube");
  assert.ok(win32.isAbsolute("D:/kube/ca.pem"));
  assert.ok(!win32.isAbsolute("D:kube"));
});
