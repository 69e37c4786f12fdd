// What Node's strict llhttp (node:http, no --insecure-http-parser) makes of raw HTTP/1.1 bytes:
// the differential oracle of http_differential_test.ts. Reads a JSON list of cases on stdin
// ({ kind: "request" | "response", bytes: base64, method? }) and prints one verdict per case:
// requests: { messages: [{ method, url, body }], error } as a node:http server saw them (the
// client half-closes after sending); responses: { status, body, interims } or { error } as a
// node:http client saw them. Bodies are latin1 strings, decoded from their transfer coding.
import http from "node:http";
import net from "node:net";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const server = http.createServer({ requireHostHeader: false }, (req, res) => {
  const parts = [];
  req.on("data", (d) => parts.push(d));
  req.on("error", () => {});
  req.on("end", () => {
    const body = Buffer.concat(parts).toString("latin1");
    res.end(JSON.stringify({ method: req.method, url: req.url, body }));
  });
});
server.on("clientError", (_e, socket) => {
  if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
  else socket.destroy();
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const serverPort = server.address().port;

/** Sends `bytes` to the node:http server, half-closes, reads every response until close. */
function asRequest(bytes) {
  return new Promise((resolve) => {
    const out = [];
    const s = net.connect(serverPort, "127.0.0.1", () => s.end(bytes));
    s.on("data", (d) => out.push(d));
    s.on("error", () => {});
    s.on("close", () => resolve(readResponses(Buffer.concat(out))));
  });
}

function readResponses(bytes) {
  const messages = [];
  let error = false;
  while (bytes.length > 0) {
    const end = bytes.indexOf("\r\n\r\n");
    if (end < 0) break;
    const head = bytes.subarray(0, end).toString("latin1");
    const status = Number(head.split(" ")[1]);
    // Without Content-Length (an HTTP/1.0 request's answer), the body runs to the close.
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? bytes.length);
    const body = bytes.subarray(end + 4, end + 4 + length).toString("utf8");
    bytes = bytes.subarray(end + 4 + length);
    if (status !== 200) {
      error = true;
      break;
    }
    try {
      messages.push(JSON.parse(body));
    } catch {
      throw new Error(`not JSON: ${JSON.stringify(head)} ${JSON.stringify(body)}`);
    }
  }
  return { messages, error };
}

// One raw origin for the response cases: GET /<i> is answered with case i's bytes, then closed.
let responseCases = [];
const raw = net.createServer((sock) => {
  let got = "";
  sock.on("error", () => {});
  sock.on("data", (d) => {
    got += d.toString("latin1");
    if (!got.includes("\r\n\r\n")) return;
    const i = Number(/^[A-Z]+ \/(\d+) /.exec(got)?.[1]);
    sock.end(responseCases[i]);
  });
});
await new Promise((r) => raw.listen(0, "127.0.0.1", r));
const rawPort = raw.address().port;

function asResponse(i, method) {
  return new Promise((resolve) => {
    let interims = 0;
    let settled = false;
    const done = (v) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    const req = http.request(
      { host: "127.0.0.1", port: rawPort, path: `/${i}`, method, agent: false },
      (res) => {
        const parts = [];
        res.on("data", (d) => parts.push(d));
        res.on("error", (e) => done({ error: e.code ?? String(e) }));
        res.on("aborted", () => done({ error: "aborted" }));
        res.on("end", () => {
          if (!res.complete) return done({ error: "incomplete" });
          done({
            status: res.statusCode,
            body: Buffer.concat(parts).toString("latin1"),
            interims,
          });
        });
      },
    );
    req.on("information", () => interims++);
    req.on("error", (e) => done({ error: e.code ?? String(e) }));
    req.end();
  });
}

const verdicts = [];
responseCases = cases.map((c) => (c.kind === "response" ? Buffer.from(c.bytes, "base64") : null));
for (const [i, c] of cases.entries()) {
  verdicts.push(
    c.kind === "request"
      ? await asRequest(Buffer.from(c.bytes, "base64"))
      : await asResponse(i, c.method ?? "GET"),
  );
}
process.stdout.write(JSON.stringify(verdicts));
server.close();
raw.close();
process.exit(0);
