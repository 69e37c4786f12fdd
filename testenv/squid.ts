/**
 * A real squid (the Debian package) standing in for a company proxy in tests: its own instance on
 * a free loopback port, with its config, logs and pid file in a temporary directory (never the
 * system service), optionally asking for Basic credentials (basic_ncsa_auth) or only NTLM
 * (ntlm_fake_auth: squid then answers 407 with `Proxy-Authenticate: NTLM` and nothing else).
 * @module
 */
import { freePort } from "./ktctl_process.ts";

export interface Squid extends AsyncDisposable {
  port: number;
  url: string;
  dir: string;
  /** squid's access log so far (one line per request; `squid` format). */
  accessLog(): Promise<string>;
  /** Waits until the access log matches `pattern` (deadline `ms`); returns the log. */
  waitForLog(pattern: RegExp, ms?: number): Promise<string>;
  /** Stops it (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
}

export interface SquidOptions {
  /** Require Basic credentials: this user and password. */
  basic?: { user: string; password: string };
  /** Offer only NTLM (Windows sign-in) authentication. */
  ntlmOnly?: boolean;
  /** CONNECT only to port 443, as squid's default configuration (`deny CONNECT !SSL_ports`). */
  connectOnly443?: boolean;
  /**
   * Names squid resolves itself (its own hosts file), so a client can ask it for a name such as
   * `outside.test` that maps to a loopback site: browsers never send loopback addresses to a proxy.
   */
  hosts?: Record<string, string>;
}

/** Whether squid is installed here. */
export function hasSquid(): boolean {
  try {
    Deno.statSync("/usr/sbin/squid");
    return true;
  } catch {
    return false;
  }
}

export async function startSquid(o: SquidOptions = {}): Promise<Squid> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-squid-" });
  // squid started as root drops to its own user, which must write the logs.
  await Deno.chmod(dir, 0o777);
  const port = freePort();
  const auth: string[] = [];
  if (o.basic) {
    const hash = new TextDecoder().decode(
      (await new Deno.Command("openssl", {
        args: ["passwd", "-apr1", o.basic.password],
        stdout: "piped",
      }).output()).stdout,
    ).trim();
    await Deno.writeTextFile(`${dir}/passwd`, `${o.basic.user}:${hash}\n`);
    await Deno.chmod(`${dir}/passwd`, 0o644);
    auth.push(
      `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${dir}/passwd`,
      "auth_param basic realm ktctl-test",
      "acl users proxy_auth REQUIRED",
      "http_access deny !users",
    );
  } else if (o.ntlmOnly) {
    auth.push(
      "auth_param ntlm program /usr/lib/squid/ntlm_fake_auth",
      "auth_param ntlm children 1",
      "acl users proxy_auth REQUIRED",
      "http_access deny !users",
    );
  }
  await Deno.writeTextFile(
    `${dir}/hosts`,
    Object.entries(o.hosts ?? {}).map(([name, ip]) => `${ip} ${name}\n`).join(""),
  );
  const config = [
    `http_port 127.0.0.1:${port}`,
    `hosts_file ${dir}/hosts`,
    `pid_filename ${dir}/squid.pid`,
    `access_log stdio:${dir}/access.log squid`,
    `cache_log ${dir}/cache.log`,
    `coredump_dir ${dir}`,
    "cache deny all",
    "dns_nameservers 127.0.0.1",
    "netdb_filename none",
    "shutdown_lifetime 0 seconds",
    "visible_hostname ktctl-test-squid",
    "acl local src 127.0.0.0/8",
    "acl CONNECT method CONNECT",
    "acl SSL_ports port 443",
    ...(o.connectOnly443 ? ["http_access deny CONNECT !SSL_ports"] : []),
    ...auth,
    "http_access allow local",
    "http_access deny all",
  ].join("\n") + "\n";
  await Deno.writeTextFile(`${dir}/squid.conf`, config);
  const child = new Deno.Command("/usr/sbin/squid", {
    args: ["-N", "-f", `${dir}/squid.conf`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s.pipeThrough(new TextDecoderStream())) output.push(c);
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  // Ready when it accepts connections (every wait has a deadline).
  const end = Date.now() + 30_000;
  while (true) {
    if (exited) {
      const log = await Deno.readTextFile(`${dir}/cache.log`).catch(() => "");
      throw new Error(`squid exited at start:\n${output.join("")}\n${log}`);
    }
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (Date.now() > end) throw new Error("squid did not listen within 30 s");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  let stopped: Promise<void> | undefined;
  const accessLog = () => Deno.readTextFile(`${dir}/access.log`).catch(() => "");
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5_000);
      await status;
      clearTimeout(timer);
      await pumps;
    })();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    accessLog,
    async waitForLog(pattern: RegExp, ms = 10_000) {
      const end = Date.now() + ms;
      for (;;) {
        const text = await accessLog();
        if (pattern.test(text)) return text;
        if (Date.now() > end) {
          throw new Error(`squid's access log never matched ${pattern}:\n${text}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
