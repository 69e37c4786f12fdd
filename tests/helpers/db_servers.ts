/**
 * Real database servers as the backends of test-owned pods: redis-server and PostgreSQL (the
 * Debian packages' binaries, never their system services), each on a free loopback port with its
 * data in a temp dir, stopped and removed by `stop()`.
 * @module
 */
import { freePort } from "../../testenv/ktctl_process.ts";
import { waitFor } from "./wait.ts";

export interface DbServer {
  port: number;
  stop(): Promise<void>;
}

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
    .output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout) + d.decode(r.stderr) };
}

function spawnQuiet(cmd: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(cmd, { args, stdout: "null", stderr: "piped", stdin: "null" }).spawn();
}

/**
 * Stops a server with `signal` (PostgreSQL: SIGINT, its fast shutdown, which does not wait for
 * clients to leave), SIGKILL after 10 s, and removes its directory.
 */
async function stopChild(
  child: Deno.ChildProcess,
  dir: string,
  signal: Deno.Signal = "SIGTERM",
): Promise<void> {
  try {
    child.kill(signal);
  } catch { /* already gone */ }
  await child.stderr.cancel().catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), 10_000));
  if (await Promise.race([child.status, late]) === "late") {
    try {
      child.kill("SIGKILL");
    } catch { /* just ended */ }
    await child.status;
  }
  clearTimeout(timer);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** redis-server on 127.0.0.1, no persistence. */
export async function startRedis(): Promise<DbServer> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-redis-" });
  const port = freePort();
  const child = spawnQuiet("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
  ]);
  await waitFor(
    async () => (await run("redis-cli", ["-p", String(port), "PING"])).out.trim() === "PONG",
    15_000,
    "redis-server to answer",
    100,
  ).catch(async (e) => {
    await stopChild(child, dir);
    throw e;
  });
  return { port, stop: () => stopChild(child, dir) };
}

/** The newest PostgreSQL server binaries Debian installed. */
export async function postgresBin(): Promise<string | undefined> {
  const versions: number[] = [];
  try {
    for await (const e of Deno.readDir("/usr/lib/postgresql")) {
      if (/^\d+$/.test(e.name)) versions.push(Number(e.name));
    }
  } catch {
    return undefined;
  }
  versions.sort((a, b) => b - a);
  return versions.length ? `/usr/lib/postgresql/${versions[0]}/bin` : undefined;
}

/**
 * PostgreSQL refuses to run as root: as root, its programs run as the `postgres` account that
 * the Debian package made (setpriv execs, so the server is the child itself and gets the signal).
 */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  if (Deno.uid() !== 0) return [cmd, args];
  return ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", cmd, ...args]];
}

/** A PostgreSQL cluster made by initdb in a temp dir, user `postgres`, trust auth, loopback. */
export async function startPostgres(): Promise<DbServer> {
  const bin = await postgresBin();
  if (!bin) throw new Error("no PostgreSQL under /usr/lib/postgresql");
  const dir = await Deno.makeTempDir({ prefix: "ktctl-pg-" });
  if (Deno.uid() === 0) {
    const pg = await run("id", ["-u", "postgres"]);
    const gid = await run("id", ["-g", "postgres"]);
    await Deno.chown(dir, Number(pg.out.trim()), Number(gid.out.trim()));
  }
  const data = `${dir}/data`;
  const init = await run(...asPostgres(`${bin}/initdb`, [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-sync",
    "-E",
    "UTF8",
  ]));
  if (init.code !== 0) throw new Error(`initdb failed:\n${init.out}`);
  const port = freePort();
  const child = spawnQuiet(...asPostgres(`${bin}/postgres`, [
    "-D",
    data,
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "fsync=off",
  ]));
  await waitFor(
    async () =>
      (await run(`${bin}/pg_isready`, ["-h", "127.0.0.1", "-p", String(port)])).code === 0,
    30_000,
    "postgres to accept connections",
    200,
  ).catch(async (e) => {
    await stopChild(child, dir, "SIGINT");
    throw e;
  });
  return { port, stop: () => stopChild(child, dir, "SIGINT") };
}
