/** WinHTTP's proxy lists as PAC answers (the FFI itself runs under Wine, tests/windows/). */
import assert from "node:assert/strict";
import { winHttpAnswer, winHttpEvaluatorFor } from "../../../src/os/winhttp.ts";

Deno.test("WinHTTP's proxy list becomes a PAC answer", () => {
  const NO_PROXY = 1, NAMED = 3;
  assert.equal(winHttpAnswer(NO_PROXY, null), "DIRECT");
  assert.equal(winHttpAnswer(NAMED, null), "DIRECT");
  assert.equal(winHttpAnswer(NAMED, ""), "DIRECT");
  assert.equal(winHttpAnswer(NAMED, "proxy.corp:8080"), "PROXY proxy.corp:8080");
  assert.equal(
    winHttpAnswer(NAMED, "a:1; b:2;DIRECT"),
    "PROXY a:1; PROXY b:2; DIRECT",
  );
  assert.equal(winHttpAnswer(NAMED, "http=http://a:1"), "PROXY a:1");
});

Deno.test("only a PAC file or automatic detection needs an evaluator", () => {
  assert.equal(winHttpEvaluatorFor({ kind: "none" }), undefined);
  assert.equal(
    winHttpEvaluatorFor({ kind: "fixed", bypass: [], bypassLocal: false }),
    undefined,
  );
});
