/**
 * The page a browser gets when it opens ktctl's address itself: what this is and how to use it,
 * so that a user who pasted the proxy address into the address bar learns what to do with it.
 * Pure.
 * @module
 */

export interface AboutInput {
  version: string;
  /** Where ktctl is connected ("context prod at https://…"). */
  cluster: string;
  /** The address clients use, `127.0.0.1:2223`. */
  hostPort: string;
}

export function renderAbout(a: AboutInput): string {
  const h = escapeHtml;
  const http = `http://${a.hostPort}`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>ktctl</title></head>
<body style="font-family: sans-serif; max-width: 46em; margin: 2em auto">
<h1>ktctl ${h(a.version)}</h1>
<p>This is ktctl's local proxy into the Kubernetes cluster ${h(a.cluster)}. It is not a web
site: point your programs at it, and they reach the cluster's services, pods and DNS names.</p>
<ul>
<li>HTTP proxy (curl, wget, Python, Go, Node, Java, git): <code>http_proxy=${h(http)}</code>,
<code>https_proxy=${h(http)}</code></li>
<li>SOCKS proxy: <code>socks5h://${h(a.hostPort)}</code> or <code>socks4a://${
    h(a.hostPort)
  }</code></li>
<li>Browsers: the automatic configuration script <a href="/proxy.pac"><code>${
    h(http)
  }/proxy.pac</code></a>
sends only cluster addresses to ktctl.</li>
</ul>
</body></html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
