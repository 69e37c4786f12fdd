/**
 * What `ktctl connect` prints once it is serving: the commands that point the user's shell at
 * it, in that shell's syntax, for the mode chosen, plus the Java flags and the PAC address for the
 * programs that read neither. Pure, so every line is tested as printed.
 * @module
 */
import { hostPort } from "../net/client_address.ts";
import type { Shell } from "./shell_hint.ts";
import type { ProxyMethod } from "../sysproxy/types.ts";

/**
 * The proxy URL for `http_proxy` in each mode. The port speaks HTTP in every mode, and
 * `http://` is the one scheme every tool reads (wget, Python, Node and Deno refuse or ignore
 * `socks4a://`), so `socks` mode prints it too; `socks5` keeps `socks5h://` (the name goes to
 * ktctl), for the tools that speak SOCKS5 and the users who chose it.
 */
export function proxyUrlFor(method: ProxyMethod, hostPort: string): string {
  return method === "socks5" ? `socks5h://${hostPort}` : `http://${hostPort}`;
}

/**
 * The variables the banner tells the user to set: `https_proxy` too wherever the value is
 * `http://` (Go programs such as kubectl cannot use a SOCKS `https_proxy`).
 */
export function proxyVariables(method: ProxyMethod, hostPort: string): [string, string][] {
  const url = proxyUrlFor(method, hostPort);
  return method === "socks5" ? [["http_proxy", url]] : [["http_proxy", url], ["https_proxy", url]];
}

/** The lines that set `vars` in `shell`; an unknown Windows shell gets both forms. */
export function shellCommands(shell: Shell, vars: [string, string][]): string[] {
  const cmd = vars.map(([k, v]) => `set ${k}=${v}`);
  const ps = vars.map(([k, v]) => `$env:${k}="${v}"`).join("; ");
  switch (shell) {
    case "cmd":
      return cmd;
    case "powershell":
      return [ps];
    case "posix":
      return [`export ${vars.map(([k, v]) => `${k}=${v}`).join(" ")}`];
    case "unknown-windows":
      return [...cmd.map((c) => `${c}  (CMD)`), `${ps}  (PowerShell)`];
  }
}

/** The banner between its dashed rules. */
export function bannerLines(
  method: ProxyMethod,
  shell: Shell,
  host: string,
  port: number,
): string[] {
  const hp = hostPort(host, port);
  const label = method === "socks" ? "SOCKS" : method === "socks5" ? "SOCKS5" : "HTTP";
  const lines = shellCommands(shell, proxyVariables(method, hp)).map((c) =>
    `Start ${label} Proxy: ${c}`
  );
  if (method === "http") {
    lines.push(
      `Java: -Dhttp.proxyHost=${host} -Dhttp.proxyPort=${port} -Dhttps.proxyHost=${host} -Dhttps.proxyPort=${port}`,
      `Browsers: proxy auto-config URL http://${hp}/proxy.pac`,
    );
  } else if (method === "socks") {
    lines.push(
      `${hp} speaks SOCKS4/4a, SOCKS5 and HTTP: SOCKS clients can use socks4a://${hp} or socks5h://${hp}`,
      `Java: -DsocksProxyHost=${host} -DsocksProxyPort=${port} -Dhttp.proxyHost=${host} -Dhttp.proxyPort=${port} -Dhttps.proxyHost=${host} -Dhttps.proxyPort=${port}`,
      `Browsers: proxy auto-config URL http://${hp}/proxy.pac`,
    );
  } else {
    lines.push(
      `${hp} speaks SOCKS4/4a, SOCKS5 and HTTP: HTTP-only tools can use http://${hp}; browsers can use the PAC URL http://${hp}/proxy.pac`,
    );
  }
  return lines;
}

/** The banner with its rules, as logged. */
export function framedBanner(lines: string[]): string[] {
  const dashes = "-".repeat(Math.max(...lines.map((l) => l.length)));
  return [dashes, ...lines, dashes];
}
