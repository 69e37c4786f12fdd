/** The bundle's ASCII rewrite: the same program, byte for byte ASCII. */
import assert from "node:assert/strict";
import { asciiOnly } from "../../../scripts/bundle.ts";

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
