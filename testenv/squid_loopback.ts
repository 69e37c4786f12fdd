/**
 * A real squid (Debian's `squid` package) on a loopback port, standing in for a company proxy in
 * tests: started in the foreground with its own configuration in a temporary folder, no cache,
 * its access log readable, stopped with SIGTERM. `apt-get install -y squid` if it is missing.
 *
 * ```ts
 * await using squid = await startSquid();
 * // ... a client uses http://127.0.0.1:${squid.port}
 * await squid.waitForLog(/GET http:\/\/127\.0\.0\.2:8080\//);
 * ```
 * @module
 */
import { freePort } from "./ktctl_process.ts";

export interface Squid extends AsyncDisposable {
  port: number;
  /** The access log so far. */
  log(): Promise<string>;
  /** Waits until the access log matches `pattern` (deadline `ms`). */
  waitForLog(pattern: RegExp, ms?: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts squid on 127.0.0.1 (a free port unless given); resolves once it accepts connections.
 * `hosts` are names squid resolves itself (its own hosts file), so clients can ask it for a
 * name such as `outside.test` that maps to a loopback site: browsers never send loopback
 * addresses to a proxy.
 */
export async function startSquid(
  opts: { port?: number; hosts?: Record<string, string> } = {},
): Promise<Squid> {
  const port = opts.port ?? freePort();
  const dir = await Deno.makeTempDir({ prefix: "ktctl-squid-" });
  // squid started as root runs as the `proxy` user: its files must be writable by it.
  await Deno.chmod(dir, 0o777);
  const conf = `${dir}/squid.conf`;
  const hostsFile = `${dir}/hosts`;
  await Deno.writeTextFile(
    hostsFile,
    Object.entries(opts.hosts ?? {}).map(([name, ip]) => `${ip} ${name}\n`).join(""),
  );
  await Deno.writeTextFile(
    conf,
    [
      `http_port 127.0.0.1:${port}`,
      `pid_filename ${dir}/squid.pid`,
      `access_log stdio:${dir}/access.log squid`,
      `cache_log ${dir}/cache.log`,
      `cache_store_log none`,
      `coredump_dir ${dir}`,
      "cache deny all",
      "http_access allow localhost",
      "http_access deny all",
      // Loopback sites are the only ones tests reach: allow them and any port.
      "acl to_loopback dst 127.0.0.0/8",
      "http_access allow to_loopback",
      "shutdown_lifetime 0 seconds",
      `hosts_file ${hostsFile}`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command("squid", {
    args: ["-N", "-f", conf],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  let errors = "";
  (async () => {
    for await (const chunk of stderr) errors += chunk;
  })().catch(() => {});
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await child.status;
        throw new Error(`squid did not start on ${port}: ${errors}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const read = async () => {
    try {
      return await Deno.readTextFile(`${dir}/access.log`);
    } catch {
      return "";
    }
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await child.status;
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    port,
    log: read,
    async waitForLog(pattern: RegExp, ms = 10_000) {
      const end = Date.now() + ms;
      for (;;) {
        const text = await read();
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
