/** The bundle's rewrites: ASCII only (the same program, byte for byte ASCII), and its fixes. */
import assert from "node:assert/strict";
import { applyBundleFixes, asciiOnly } from "../../../scripts/bundle.ts";

/** Evaluates a JavaScript expression (test inputs only). */
function value(source: string): unknown {
  return new Function(`return (${source});`)();
}

Deno.test("asciiOnly leaves ASCII text as it is", () => {
  const text = 'var a = "x\\\\y"; // plain\n';
  assert.equal(asciiOnly(text), text);
});

Deno.test("asciiOnly escapes each character outside ASCII, byte by byte", () => {
  assert.equal(asciiOnly("// it’s ≤ é\n"), "// it\\u2019s \\u2264 \\u00e9\n");
  assert.equal(asciiOnly("😀"), "\\ud83d\\ude00");
});

Deno.test("asciiOnly keeps what strings, templates, regexps and identifiers mean", () => {
  const cases = [
    '"it’s ≤ é"',
    "`a — ${1 + 1} — b`",
    '"😀 two units"',
    // An identity escape of the character, and an escaped backslash before it.
    '"\\’"',
    '"\\\\’"',
    '"\\\\\\’"',
    '/^[’—]+$/.test("’—’")',
    '/^😀$/u.test("😀")',
    '/^\\’$/.test("’")',
    "(() => { const café = 2; return café * 3; })()",
  ];
  for (const source of cases) {
    const ascii = asciiOnly(source);
    assert.ok([...ascii].every((c) => c.charCodeAt(0) < 0x80), `not ASCII: ${ascii}`);
    assert.deepEqual(value(ascii), value(source), source);
  }
});

Deno.test("applyBundleFixes rewrites what it finds once, in whichever file holds it", () => {
  const fix = { why: "test", find: 'import x from "node:x";\n', replace: "const x = 1;\n" };
  const files = new Map([["a.js", "a();\n"], ["b.js", 'import x from "node:x";\nx();\n']]);
  const out = applyBundleFixes(files, [fix]);
  assert.equal(out.get("a.js"), "a();\n");
  assert.equal(out.get("b.js"), "const x = 1;\nx();\n");
  assert.equal(files.get("b.js"), 'import x from "node:x";\nx();\n', "the input is left as it was");
});

Deno.test("applyBundleFixes fails the build when a fix is missing or found twice", () => {
  const fix = { why: "the reason", find: "FIND\n", replace: "" };
  assert.throws(
    () => applyBundleFixes(new Map([["a.js", "other\n"]]), [fix]),
    /bundle fix found 0 times, not once \(the reason\)/,
  );
  assert.throws(
    () => applyBundleFixes(new Map([["a.js", "FIND\n"], ["b.js", "FIND\n"]]), [fix]),
    /found 2 times/,
  );
  assert.throws(
    () => applyBundleFixes(new Map([["a.js", "FIND\nFIND\n"]]), [fix]),
    /found 2 times/,
  );
});
