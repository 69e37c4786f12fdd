/**
 * ktctl's HTTP parsing against Node's strict llhttp (node:http in a `node` subprocess,
 * llhttp_oracle.mjs) on a corpus of request-smuggling and response-splitting vectors: CL.TE,
 * TE.CL, Transfer-Encoding obfuscations, whitespace, duplicate and listed fields, obs-fold, bare
 * LF, malformed chunks, bad status lines. Wherever ktctl accepts a message, llhttp must read the
 * original bytes as the same message (method, target, decoded body; status and body for
 * responses) as it reads what ktctl sends on: where they disagree, ktctl must have refused.
 */
import assert from "node:assert/strict";
import { requestHeadParser, responseHeadParser } from "../../src/front/http/head.ts";
import { parseTarget } from "../../src/front/http/target.ts";
import { planRequest, planResponse } from "../../src/front/http/messages.ts";
import { BodyFramer } from "../../src/front/http/body.ts";
import { concat } from "../../src/net/io.ts";

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const base64 = (b: Uint8Array) => btoa(Array.from(b, (c) => String.fromCharCode(c)).join(""));

/** Request vectors: fields after the request line and Host, then the bytes after the head. */
const REQUESTS: [fields: string, rest: string][] = [
  ["Content-Length: 3", "abc"],
  ["Content-Length: 3", "abcPOST http://w.example/2 HTTP/1.1\r\nHost: w.example\r\n\r\n"],
  ["Transfer-Encoding: chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: Chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: CHUNKED", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding:chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding:\tchunked\t", "3\r\nabc\r\n0\r\n\r\n"],
  // CL.TE and TE.CL
  ["Content-Length: 6\r\nTransfer-Encoding: chunked", "0\r\n\r\nG"],
  ["Transfer-Encoding: chunked\r\nContent-Length: 3", "8\r\nSMUGGLED\r\n0\r\n\r\n"],
  ["Content-Length: 4\r\nTransfer-Encoding : chunked", "5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"],
  // Transfer-Encoding obfuscations
  ["Transfer-Encoding: chunked, identity", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: identity, chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: identity", "abc"],
  ["Transfer-Encoding: gzip, chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked, chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked\r\nTransfer-Encoding: identity", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding : chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding\t: chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: xchunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunk", "3\r\nabc\r\n0\r\n\r\n"],
  ['Transfer-Encoding: "chunked"', "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked;q=1", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: \x0bchunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer_Encoding: chunked", ""],
  ["Transfer-Encoding: \r\n chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["X: y\r\n Transfer-Encoding: chunked", "3\r\nabc\r\n0\r\n\r\n"],
  [" Transfer-Encoding: chunked", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked\nX: y", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding:", ""],
  // Content-Length variants
  ["Content-Length: 3\r\nContent-Length: 3", "abc"],
  ["Content-Length: 3, 3", "abc"],
  ["Content-Length: 3\r\nContent-Length: 4", "abcd"],
  ["Content-Length: +3", "abc"],
  ["Content-Length: 03", "abc"],
  ["Content-Length: 3 ", "abc"],
  ["Content-Length:\t3", "abc"],
  ["Content-Length: 3\t", "abc"],
  ["Transfer-Encoding: chunked\t", "3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked \t ", "3\r\nabc\r\n0\r\n\r\n"],
  ["Content-Length: 0x3", "abc"],
  ["Content-Length: -1", "abc"],
  ["Content-Length: 3 3", "abc"],
  ["Content-Length : 3", "abc"],
  ["Content-Length: 99999999999999999999", "abc"],
  // Connection naming framing fields
  ["Connection: content-length\r\nContent-Length: 3", "abc"],
  ["Connection: transfer-encoding\r\nTransfer-Encoding: chunked", "3\r\nabc\r\n0\r\n\r\n"],
  // Line ends, controls, folding
  ["X: a\x00b", ""],
  ["X: a\rb", ""],
  ["X\x00: a", ""],
  ["X: a\r\n\tb", ""],
  ["X:\x7f", ""],
  ["X: \xe9", ""],
  // Chunked bodies
  ["Transfer-Encoding: chunked", "3 \r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked", "3;a=b\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked", "3 ;a=b\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked", '3;a="b c"\r\nabc\r\n0\r\n\r\n'],
  ["Transfer-Encoding: chunked", "0x3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked", "-3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked", "+3\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked", "fffffffffffffffff\r\nabc\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked", "3\nabc\n0\n\n"],
  ["Transfer-Encoding: chunked", "3\r\nabcX\r\n0\r\n\r\n"],
  ["Transfer-Encoding: chunked", "3\r\nabc\r\n0\r\nT: v\r\n\r\n"],
  ["Transfer-Encoding: chunked", "3\r\nabc\r\n0\r\nT: v\n\r\n"],
  [
    "Transfer-Encoding: chunked",
    "3\r\nabc\r\n0\r\n\r\nPOST http://w.example/2 HTTP/1.1\r\nHost: w.example\r\n\r\n",
  ],
  ["Transfer-Encoding: chunked", "003\r\nabc\r\n00\r\n\r\n"],
];

/** Whole request heads for what the fields above cannot express. */
const RAW_REQUESTS: string[] = [
  "POST http://w.example/1 HTTP/1.1\nHost: w.example\nContent-Length: 3\n\nabc",
  "POST http://w.example/1 HTTP/1.1\r\nHost: w.example\nContent-Length: 3\r\n\r\nabc",
  "POST  http://w.example/1 HTTP/1.1\r\nHost: w.example\r\n\r\n",
  "POST http://w.example/1 HTTP/1.1 \r\nHost: w.example\r\n\r\n",
  "POST http://w.example/1 HTTP/1.0\r\nHost: w.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
  "POST http://w.example/1 HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
  "GET http://w.example/1 HTTP/1.1\r\nHost: w.example\r\n\r\nGET http://w.example/2 HTTP/1.1\r\nHost: w.example\r\n\r\n",
  "\r\nGET http://w.example/1 HTTP/1.1\r\nHost: w.example\r\n\r\n",
  "GET http://w.example/1 HTTP/1.1\r\n\r\n",
  "GET http://w.example/1?a=%00 HTTP/1.1\r\nHost: w.example\r\n\r\n",
];

/** Response vectors: the whole response, and the request method it answers. */
const RESPONSES: [response: string, method?: string][] = [
  ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\n\r\nuntil close"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil close"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: identity, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"],
  ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"],
  ["HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 099 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 1000 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 200 OK\nContent-Length: 2\n\nok"],
  ["HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 200 OK\r\nX: a\x00\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n"],
  ["HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "HEAD"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HEAD"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\n0\n\n"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n"],
  ["HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok"],
  ["HTTP/1.1 200 OK\r\nContent-Length: 2 \r\n\r\nok"],
  ["HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"],
];

interface NodeRequests {
  messages: { method: string; url: string; body: string }[];
  error: boolean;
}
type NodeResponse = { status: number; body: string; interims: number } | { error: string };

async function oracle(
  cases: { kind: "request" | "response"; bytes: Uint8Array; method?: string }[],
): Promise<unknown[]> {
  const child = new Deno.Command("node", {
    args: [new URL("./llhttp_oracle.mjs", import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(
      JSON.stringify(cases.map((c) => ({ ...c, bytes: base64(c.bytes) }))),
    ),
  );
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** The requests ktctl would forward from `bytes`, each as it would send it, until it refuses. */
function ktctlRequests(bytes: Uint8Array): { sent: Uint8Array[]; refused: boolean } {
  const sent: Uint8Array[] = [];
  let rest = bytes;
  while (rest.length > 0) {
    const r = requestHeadParser().parse(rest);
    if (r.status !== "done") return { sent, refused: true };
    const t = parseTarget(r.head.method, r.head.target);
    if (!t.ok || t.target.form !== "absolute") return { sent, refused: true };
    const plan = planRequest(r.head, t.target.path, t.target.authority);
    if (!plan.ok) return { sent, refused: true };
    const body = rest.subarray(r.consumed);
    const framer = new BodyFramer(plan.framing);
    let n;
    try {
      n = framer.feed(body);
    } catch {
      return { sent, refused: true };
    }
    if (!framer.done) return { sent, refused: true };
    sent.push(concat([plan.head, body.subarray(0, n)]));
    rest = body.subarray(n);
  }
  return { sent, refused: false };
}

/** What ktctl would send its client for `bytes` answering `method`, or undefined if refused. */
function ktctlResponse(bytes: Uint8Array, method: string): Uint8Array | undefined {
  const request = requestHeadParser().parse(
    latin1(`${method} http://w.example/ HTTP/1.1\r\nHost: w.example\r\n\r\n`),
  );
  assert.equal(request.status, "done");
  if (request.status !== "done") return undefined;
  const out: Uint8Array[] = [];
  let rest = bytes;
  for (let interims = 0;; interims++) {
    const r = responseHeadParser().parse(rest);
    if (r.status !== "done") return undefined;
    const plan = planResponse(r.head, request.head, interims);
    rest = rest.subarray(r.consumed);
    if (plan.kind === "refuse" || plan.kind === "upgrade") return undefined;
    if (plan.kind === "interim") {
      if (plan.head) out.push(plan.head);
      continue;
    }
    out.push(plan.head);
    const framer = new BodyFramer(plan.framing);
    let n;
    try {
      n = framer.feed(rest);
    } catch {
      return undefined;
    }
    if (!framer.done && !framer.closeDelimited) return undefined;
    out.push(rest.subarray(0, n));
    return concat(out);
  }
}

function path(url: string): string {
  const u = new URL(url, "http://w.example");
  return u.pathname + u.search;
}

Deno.test("differential: where ktctl forwards a request, llhttp reads the original as ktctl sends it on", async () => {
  const originals = [
    ...REQUESTS.map(([fields, rest]) =>
      latin1(`POST http://w.example/1 HTTP/1.1\r\nHost: w.example\r\n${fields}\r\n\r\n${rest}`)
    ),
    ...RAW_REQUESTS.map(latin1),
  ];
  const ours = originals.map(ktctlRequests);
  const cases = [
    ...originals.map((bytes) => ({ kind: "request" as const, bytes })),
    ...ours.flatMap((o) => o.sent.map((bytes) => ({ kind: "request" as const, bytes }))),
  ];
  const verdicts = (await oracle(cases)) as NodeRequests[];
  let at = originals.length;
  let accepted = 0;
  const disagreements: string[] = [];
  for (const [i, original] of originals.entries()) {
    const theirs = verdicts[i];
    const text = JSON.stringify(new TextDecoder("latin1").decode(original));
    for (const [k, _sent] of ours[i].sent.entries()) {
      const relayed = verdicts[at++];
      const expected = theirs.messages[k];
      const got = relayed.messages[0];
      if (relayed.error || relayed.messages.length !== 1) {
        disagreements.push(`${text}: llhttp refuses what ktctl sends on`);
      } else if (
        !expected || expected.method !== got.method || path(expected.url) !== path(got.url) ||
        expected.body !== got.body
      ) {
        disagreements.push(
          `${text}: message ${k}: llhttp read ${JSON.stringify(expected)}, ktctl sent ${
            JSON.stringify(got)
          }`,
        );
      }
    }
    if (!ours[i].refused) {
      accepted++;
      if (theirs.error || theirs.messages.length !== ours[i].sent.length) {
        disagreements.push(`${text}: ktctl accepts it all, llhttp ${JSON.stringify(theirs)}`);
      }
    }
  }
  assert.deepEqual(disagreements, []);
  // The corpus is not all refusals: the honest vectors go through.
  assert.ok(accepted >= 10, `${accepted} accepted`);
});

Deno.test("differential: where ktctl relays a response, llhttp reads the original as ktctl relays it", async () => {
  const originals = RESPONSES.map(([text, method]) => ({
    bytes: latin1(text),
    method: method ?? "GET",
  }));
  const ours = originals.map((o) => ktctlResponse(o.bytes, o.method));
  const cases = [
    ...originals.map((o) => ({ kind: "response" as const, ...o })),
    ...originals.flatMap((o, i) => {
      const relayed = ours[i];
      return relayed ? [{ kind: "response" as const, bytes: relayed, method: o.method }] : [];
    }),
  ];
  const verdicts = (await oracle(cases)) as NodeResponse[];
  let at = originals.length;
  const disagreements: string[] = [];
  for (const [i, o] of originals.entries()) {
    if (!ours[i]) continue;
    const theirs = verdicts[i];
    const relayed = verdicts[at++];
    const text = JSON.stringify(RESPONSES[i][0]);
    if ("error" in relayed) {
      disagreements.push(`${text}: llhttp refuses what ktctl relays (${relayed.error})`);
    } else if ("error" in theirs) {
      disagreements.push(`${text}: ktctl relays it, llhttp refuses it (${theirs.error})`);
    } else if (theirs.status !== relayed.status || theirs.body !== relayed.body) {
      disagreements.push(
        `${text} (${o.method}): llhttp read ${JSON.stringify(theirs)}, ktctl relays ${
          JSON.stringify(relayed)
        }`,
      );
    }
  }
  assert.deepEqual(disagreements, []);
  assert.ok(ours.filter((o) => o).length >= 8);
});
