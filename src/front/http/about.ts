/**
 * The page a browser gets when it opens ktctl's address: a live view of this ktctl (the session,
 * connections now, the last failures, tunnels, forwards) and how to use it. One self-contained
 * document: no external assets (works offline), its script polls `/api/status` every second
 * and writes only text nodes (destinations and program names come from other programs).
 * Tables scroll sideways on a narrow window; the sort buttons and the pause button are
 * ordinary buttons, so the page works with a keyboard. Pure.
 * @module
 */

export interface AboutInput {
  version: string;
  /** Where ktctl is connected ("context prod at https://…"). */
  cluster: string;
  /** The address clients use, `127.0.0.1:2223`. */
  hostPort: string;
  /** `forward`: a `ktctl forward`'s own page, no proxy to explain; `connect` when absent. */
  command?: "connect" | "forward";
}

export function renderAbout(a: AboutInput): string {
  const h = escapeHtml;
  const http = `http://${a.hostPort}`;
  const forward = a.command === "forward";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ktctl ${h(a.hostPort)}</title>
<style>${STYLE}</style></head>
<body>
<header><h1>ktctl ${h(a.version)}</h1>
<p>${forward ? "Forwards (ktctl forward) into" : "Local proxy into"} the Kubernetes cluster ${
    h(a.cluster)
  }.
<span id="state" role="status" aria-live="polite">Loading…</span>
<button id="pause" type="button" aria-pressed="false">Pause updates</button></p></header>
<main>
<section aria-labelledby="h-session"><h2 id="h-session">Session</h2>
<dl id="session"></dl></section>
<section aria-labelledby="h-conn"><h2 id="h-conn">Connections now <span id="conn-count"></span></h2>
<div class="scroll"><table id="connections"><thead><tr>
<th scope="col"><button type="button" data-sort="program">Program</button></th>
<th scope="col"><button type="button" data-sort="destination">Destination</button></th>
<th scope="col"><button type="button" data-sort="via">Went to</button></th>
<th scope="col" class="n"><button type="button" data-sort="sentBytes">Sent</button></th>
<th scope="col" class="n"><button type="button" data-sort="receivedBytes">Received</button></th>
<th scope="col" class="n"><button type="button" data-sort="ageSeconds" aria-sort="ascending">Age</button></th>
</tr></thead><tbody id="conn-body"></tbody></table></div></section>
<section aria-labelledby="h-fail"><h2 id="h-fail">Last failures <span id="fail-count"></span></h2>
<div class="scroll"><table id="failures"><thead><tr>
<th scope="col">When</th><th scope="col">Program</th><th scope="col">Destination</th>
<th scope="col">Kind</th><th scope="col">What happened</th>
</tr></thead><tbody id="fail-body"></tbody></table></div></section>
<section aria-labelledby="h-tun"><h2 id="h-tun">Tunnels</h2><p id="tunnel-mode"></p>
<div class="scroll"><table id="tunnels"><thead><tr>
<th scope="col">Pod</th><th scope="col" class="n">Sessions</th><th scope="col" class="n">Connections</th>
</tr></thead><tbody id="tunnel-body"></tbody></table></div></section>
<section aria-labelledby="h-fwd"><h2 id="h-fwd">Forwards <span id="fwd-count"></span></h2>
<div class="scroll"><table id="forwards"><thead><tr>
<th scope="col">Local address</th><th scope="col">Target</th><th scope="col">State</th>
<th scope="col" class="n">Open</th><th scope="col" class="n">Total</th>
<th scope="col" class="n">Failures</th><th scope="col">Last failure</th>
</tr></thead><tbody id="fwd-body"></tbody></table></div></section>
${forward ? FORWARD_USE : proxyUse(a.hostPort, http)}
</main>
<script>${SCRIPT}</script>
</body></html>
`;
}

const FORWARD_USE = `<section aria-labelledby="h-use"><h2 id="h-use">How to use it</h2>
<p>Point your programs (database clients, redis-cli, anything) at a forward's local address
above: each connection goes to a ready pod of its target. This port serves only this page and
<a href="/api/status"><code>/api/status</code></a>; in a terminal: <code>ktctl status</code>.</p>
</section>`;

function proxyUse(hostPort: string, http: string): string {
  const h = escapeHtml;
  return `<section aria-labelledby="h-use"><h2 id="h-use">How to use it</h2>
<p>This is not a web site: point your programs at it, and they reach the cluster's services,
pods and DNS names.</p>
<ul>
<li>HTTP proxy (curl, wget, Python, Go, Node, Java, git): <code>http_proxy=${h(http)}</code>,
<code>https_proxy=${h(http)}</code></li>
<li>SOCKS proxy: <code>socks5h://${h(hostPort)}</code> or <code>socks4a://${h(hostPort)}</code></li>
<li>Browsers: the automatic configuration script <a href="/proxy.pac"><code>${
    h(http)
  }/proxy.pac</code></a> sends only cluster addresses to ktctl.</li>
<li>The same data as JSON: <a href="/api/status"><code>/api/status</code></a>;
in a terminal: <code>ktctl status</code>.</li>
</ul></section>`;
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72em;padding:0 1em 2em;
line-height:1.4;color:#1b1b1b;background:#fff}
h1{font-size:1.4em;margin:.6em 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #ddd;vertical-align:top}
td{overflow-wrap:anywhere}.n{text-align:right;white-space:nowrap}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit}
th button[aria-sort=ascending]::after{content:" ▲"}th button[aria-sort=descending]::after{content:" ▼"}
button:focus-visible,a:focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}
#state{margin-left:.5em;color:#555}.bad{color:#a51d2d;font-weight:600}.ok{color:#26a269}
code{background:#f3f3f3;padding:0 .2em;overflow-wrap:anywhere}
@media (max-width:40em){dl{grid-template-columns:1fr}dd{margin-bottom:.4em}}
@media (prefers-color-scheme:dark){body{background:#1e1e1e;color:#ddd}th,td{border-color:#444}
code{background:#333}#state{color:#aaa}}
`;

/** The page's script: polls /api/status, renders with text nodes only. */
const SCRIPT = `
"use strict";
const $ = (id) => document.getElementById(id);
let sortKey = "ageSeconds", sortDir = 1, paused = false, last = null;
function bytes(n) {
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"]; let v = n / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return v.toFixed(1) + " " + u[i];
}
function dur(s) {
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function n(count, word) { return count + " " + word + (count === 1 ? "" : "s"); }
function prog(p) { return p ? p.name + " (pid " + p.pid + ")" : "unknown"; }
function row(cells, cls) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => {
    const td = document.createElement("td"); td.textContent = c;
    if (cls && cls[i]) td.className = cls[i];
    tr.appendChild(td);
  });
  return tr;
}
function fill(body, rows, empty, cols) {
  body.replaceChildren(...(rows.length ? rows : [row([empty].concat(Array(cols - 1).fill("")))]));
}
function dl(pairs) {
  const out = [];
  for (const [k, v, cls] of pairs) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v; if (cls) dd.className = cls;
    out.push(dt, dd);
  }
  $("session").replaceChildren(...out);
}
function render(d) {
  const s = d.session, t = d.traffic;
  const api = s.api;
  dl([
    ["Context", s.context], ["API server", s.server], ["Namespace", s.namespace],
    ...(s.proxyUrl ? [["Mode", s.mode + " (" + s.proxyUrl + ")"], ["PAC", s.pacUrl]]
      : [["Mode", s.mode + " (no proxy: programs use the forwards)"]]),
    ["Global settings", s.globalSettings.applied
      ? "set by ktctl: " + s.globalSettings.values.map((v) => v.name + "=" + v.value).join(", ")
      : "none set (ktctl changed nothing on this machine)"],
    ["Upstream proxy", s.upstreamProxy || "none"],
    ["Up for", dur(s.uptimeSeconds)],
    ["Namespaces seen", s.namespaces.length + (s.scope === "namespace" ? " (this user may read only its own)" : "") + ": " + s.namespaces.join(", ")],
    ["API round trip", api.roundTripMs === null ? "not measured yet" : api.roundTripMs + " ms"],
    ["Watches", api.watchesHealthy ? "all connected" : "reconnecting", api.watchesHealthy ? "ok" : "bad"],
    ...api.watches.map((w) => ["  " + w.path, (w.up ? "up" : "down") + ", opened " + w.opened + " time" + (w.opened === 1 ? "" : "s") + (w.lastEventAt ? ", last event " + new Date(w.lastEventAt).toLocaleTimeString() : "")]),
    ["Last minute", n(t.lastMinute.connections, "connection") + ", " + n(t.lastMinute.failures, "failure"), t.lastMinute.failures ? "bad" : ""],
    ["Since start", n(t.total.connections, "connection") + ", " + n(t.total.failures, "failure") + ", " + bytes(t.total.sentBytes) + " sent, " + bytes(t.total.receivedBytes) + " received"],
  ]);
  const items = d.connections.items.slice().sort((a, b) => {
    const x = sortKey === "program" ? prog(a.program) : a[sortKey];
    const y = sortKey === "program" ? prog(b.program) : b[sortKey];
    return (x < y ? -1 : x > y ? 1 : a.id - b.id) * sortDir;
  });
  $("conn-count").textContent = "(" + d.connections.open + " open" +
    (d.connections.open > d.connections.shown ? ", " + d.connections.shown + " shown" : "") + ")";
  fill($("conn-body"), items.map((c) => {
    const tr = row([prog(c.program), c.destination, c.via, bytes(c.sentBytes), bytes(c.receivedBytes), dur(c.ageSeconds)],
      ["", "", "", "n", "n", "n"]);
    tr.dataset.id = c.id; tr.dataset.program = c.program ? c.program.name : "";
    return tr;
  }), "No connection is open.", 6);
  $("fail-count").textContent = "(" + d.failures.length + ")";
  fill($("fail-body"), d.failures.map((f) => {
    const tr = row([new Date(f.at).toLocaleTimeString(), prog(f.program), f.destination, f.kind, f.sentence]);
    tr.dataset.kind = f.kind; tr.dataset.program = f.program ? f.program.name : "";
    return tr;
  }), "No failure.", 5);
  const tu = d.tunnels;
  $("tunnel-mode").textContent = tu.fellBack
    ? "One WebSocket per connection: the API server does not tunnel (" + tu.fellBack + ")."
    : tu.mode === "websocket" ? "One WebSocket per connection (--portForward websocket)."
    : "One multiplexed connection per pod.";
  fill($("tunnel-body"), tu.pods.map((p) => row([p.pod, String(p.sessions), String(p.connections)], ["", "n", "n"])),
    "No tunnel is open.", 3);
  $("fwd-count").textContent = "(" + d.forwards.length + ")";
  fill($("fwd-body"), d.forwards.map((f) => {
    const last = f.lastFailure ? new Date(f.lastFailure.at).toLocaleTimeString() + ": " + f.lastFailure.sentence : "none";
    const tr = row([f.local, f.target, f.state, String(f.connections), String(f.totalConnections ?? 0),
      String(f.failures ?? 0), last], ["", "", f.state === "listening" ? "ok" : "bad", "n", "n", "n", f.lastFailure ? "bad" : ""]);
    tr.dataset.local = f.local;
    return tr;
  }), "No forward (ktctl connect --forward TARGET:[LOCAL:]REMOTE adds one).", 7);
}
async function tick() {
  if (!paused) {
    try {
      const r = await fetch("/api/status", { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      last = await r.json();
      render(last);
      $("state").textContent = "Updated " + new Date().toLocaleTimeString();
      $("state").className = "";
    } catch (e) {
      $("state").textContent = "ktctl does not answer (" + e.message + "): is it still running?";
      $("state").className = "bad";
    }
  }
  setTimeout(tick, 1000);
}
for (const b of document.querySelectorAll("th button")) {
  b.addEventListener("click", () => {
    const k = b.dataset.sort;
    sortDir = k === sortKey ? -sortDir : 1; sortKey = k;
    for (const o of document.querySelectorAll("th button")) o.removeAttribute("aria-sort");
    b.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
    if (last) render(last);
  });
}
$("pause").addEventListener("click", () => {
  paused = !paused;
  $("pause").setAttribute("aria-pressed", String(paused));
  $("pause").textContent = paused ? "Resume updates" : "Pause updates";
});
tick();
`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
