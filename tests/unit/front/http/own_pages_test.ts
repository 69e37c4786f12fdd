/**
 * Who gets ktctl's own pages: its own authority only (421 otherwise), never another site's
 * page (403), whereas a PAC fetch (no Origin, no Sec-Fetch-Site) is served.
 */
import assert from "node:assert/strict";
import { isOwnAuthority, ownPageVerdict } from "../../../../src/front/http/own_pages.ts";
import type { Field } from "../../../../src/front/http/head.ts";

const local = { hostname: "127.0.0.1", port: 2223 };
const verdict = (fields: Field[], absoluteAuthority?: string, at = local) =>
  ownPageVerdict({ fields, absoluteAuthority }, at);

Deno.test("own pages: ktctl's own authorities are served", () => {
  for (const host of ["127.0.0.1:2223", "localhost:2223", "LOCALHOST:2223", "[::1]:2223"]) {
    assert.deepEqual(verdict([["Host", host]]), { serve: true }, host);
  }
  // A PAC fetch: Host only.
  assert.deepEqual(verdict([["host", "127.0.0.1:2223"]]), { serve: true });
  // The user typed the address: Sec-Fetch-Site none; the page's own fetch: same-origin.
  assert.deepEqual(
    verdict([["Host", "127.0.0.1:2223"], ["Sec-Fetch-Site", "none"]]),
    { serve: true },
  );
  assert.deepEqual(
    verdict([
      ["Host", "127.0.0.1:2223"],
      ["Sec-Fetch-Site", "same-origin"],
      ["Origin", "http://127.0.0.1:2223"],
    ]),
    { serve: true },
  );
  // The bound address, for a listener on another address.
  const lan = { hostname: "192.168.1.5", port: 2223 };
  assert.deepEqual(verdict([["Host", "192.168.1.5:2223"]], undefined, lan), { serve: true });
  // An absolute-form target takes Host's place.
  assert.deepEqual(verdict([["Host", "evil.example"]], "127.0.0.1:2223"), { serve: true });
});

Deno.test("own pages: any other authority gets 421 (DNS rebinding, other ports, no Host)", () => {
  const cases: Field[][] = [
    [["Host", "evil.example:2223"]],
    [["Host", "127.0.0.1"]],
    [["Host", "127.0.0.1:80"]],
    [["Host", "127.0.0.2:2223"]],
    [["Host", "localhost.evil.example:2223"]],
    [["Host", "127.0.0.1:2223@evil"]],
    [["Host", "0x7f.0.0.1:2223"]],
    [],
    [["Host", "127.0.0.1:2223"], ["Host", "evil.example:2223"]],
  ];
  for (const fields of cases) {
    const v = verdict(fields);
    assert.equal(v.serve, false, JSON.stringify(fields));
    assert.equal(!v.serve && v.status, 421, JSON.stringify(fields));
  }
  assert.equal(verdict([["Host", "127.0.0.1:2223"]], "evil.example:2223").serve, false);
});

Deno.test("own pages: another site's page gets 403, by Sec-Fetch-Site or Origin", () => {
  const host: Field = ["Host", "127.0.0.1:2223"];
  for (
    const fields of [
      [host, ["Sec-Fetch-Site", "cross-site"]],
      [host, ["Sec-Fetch-Site", "same-site"]],
      [host, ["Origin", "http://127.0.0.2:8000"]],
      [host, ["Origin", "null"]],
      [host, ["Origin", "https://127.0.0.1:2223"]],
    ] as Field[][]
  ) {
    const v = verdict(fields);
    assert.equal(!v.serve && v.status, 403, JSON.stringify(fields));
  }
});

Deno.test("own pages: authority parsing", () => {
  assert.equal(isOwnAuthority("localhost", { hostname: "127.0.0.1", port: 80 }), true);
  assert.equal(isOwnAuthority("[::1]", { hostname: "::1", port: 80 }), true);
  assert.equal(isOwnAuthority("[::1:2223", local), false);
  assert.equal(isOwnAuthority("127.0.0.1:02223", local), true);
  assert.equal(isOwnAuthority("127.0.0.1:99999", local), false);
});
