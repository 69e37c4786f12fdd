/**
 * Runs a kubeconfig exec credential plugin (`users[].user.exec`: aws eks get-token,
 * gke-gcloud-auth-plugin, kubelogin, ...) once and reads its ExecCredential, as client-go does:
 * `KUBERNETES_EXEC_INFO` tells the plugin whether it may prompt, stdin and stderr are the user's
 * terminal only then, and the run has a deadline. The parser is pure. Caching and refreshing
 * are credential_source.ts's.
 *
 * A plugin's output is a secret: a failing plugin may print the token it half-fetched, a
 * refresh token, or a password prompt's echo to stdout or stderr. Errors (which are logged)
 * describe such output only by its shape ({@link describeOutput}: line count, the first line's
 * length and kind), never its text; the user runs the plugin by hand to read it.
 * @module
 */

/** The `exec` stanza as client-node keeps it. */
export interface ExecConfig {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  apiVersion?: string;
  installHint?: string;
  interactiveMode?: "Never" | "IfAvailable" | "Always";
  provideClusterInfo?: boolean;
}

/** What a plugin hands out: a bearer token or a client certificate, and until when. */
export interface CredentialMaterial {
  token?: string;
  cert?: string;
  key?: string;
  /** Epoch ms of `status.expirationTimestamp`; undefined when the plugin named none. */
  expiresAt?: number;
}

/** A plugin that could not run or gave nothing usable; the message says which and why. */
export class CredentialError extends Error {
  override name = "CredentialError";
}

/**
 * The shape of a plugin's output, for an error message: "nothing", or "2 lines; the first is 41
 * characters of text" (kinds: JSON, text, binary). Never a character of the output itself.
 */
export function describeOutput(output: string): string {
  const trimmed = output.trim();
  if (trimmed === "") return "nothing";
  const lines = trimmed.split(/\r?\n/);
  const first = lines[0].trim();
  const kind = /^[[{]/.test(first) ? "JSON" : isBinary(first) ? "binary" : "text";
  const count = lines.length === 1 ? "1 line" : `${lines.length} lines`;
  return `${count}; the first is ${first.length} characters of ${kind}`;
}

/** Control characters (other than tabs and line ends) or undecodable bytes. */
function isBinary(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f || c === 0xfffd) {
      return true;
    }
  }
  return false;
}

/** How the user reads what the plugin printed, since ktctl will not show it. */
function readItYourself(command: string): string {
  return `not shown, as it may hold a secret: run ${command} yourself to read it`;
}

/** Reads a plugin's stdout: an ExecCredential with a token or a certificate and key. */
export function parseExecCredential(stdout: string, command: string): CredentialMaterial {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new CredentialError(
      `credential plugin ${command} printed no ExecCredential JSON (it printed ${
        describeOutput(stdout)
      }; ${readItYourself(command)})`,
    );
  }
  const d = doc as { kind?: unknown; status?: Record<string, unknown> } | null;
  if (!d || typeof d !== "object" || d.kind !== "ExecCredential" || typeof d.status !== "object") {
    throw new CredentialError(
      `credential plugin ${command} printed JSON that is no ExecCredential`,
    );
  }
  const s = d.status ?? {};
  const text = (v: unknown) => typeof v === "string" && v.length > 0 ? v : undefined;
  const material: CredentialMaterial = {
    token: text(s.token),
    cert: text(s.clientCertificateData),
    key: text(s.clientKeyData),
  };
  if (!material.token && !(material.cert && material.key)) {
    throw new CredentialError(
      `credential plugin ${command} gave neither a token nor a client certificate and key`,
    );
  }
  if (s.expirationTimestamp !== undefined) {
    const at = typeof s.expirationTimestamp === "string" ? Date.parse(s.expirationTimestamp) : NaN;
    if (!Number.isFinite(at)) {
      throw new CredentialError(
        `credential plugin ${command} gave an unreadable expirationTimestamp ${
          JSON.stringify(s.expirationTimestamp)
        }`,
      );
    }
    material.expiresAt = at;
  }
  return material;
}

/** Whether the plugin gets the user's terminal (client-go's rule for interactiveMode). */
export function isInteractive(exec: ExecConfig, stdinIsTerminal: boolean): boolean {
  return exec.interactiveMode === "Always" ||
    (exec.interactiveMode !== "Never" && stdinIsTerminal);
}

/** The `KUBERNETES_EXEC_INFO` a plugin reads (cluster details only when it asks for them). */
export function execInfo(
  exec: ExecConfig,
  interactive: boolean,
  cluster?: Record<string, unknown>,
): string {
  return JSON.stringify({
    apiVersion: exec.apiVersion ?? "client.authentication.k8s.io/v1",
    kind: "ExecCredential",
    spec: { interactive, ...(exec.provideClusterInfo && cluster ? { cluster } : {}) },
  });
}

export interface RunOptions {
  /** Deadline for a plugin that cannot prompt; one that prompts gets `interactiveTimeoutMs`. */
  timeoutMs: number;
  interactiveTimeoutMs: number;
  cluster?: Record<string, unknown>;
}

/** Runs the plugin once. Throws CredentialError for every way that can fail. */
export async function runExecPlugin(
  exec: ExecConfig,
  opts: RunOptions,
): Promise<CredentialMaterial> {
  const interactive = isInteractive(exec, Deno.stdin.isTerminal());
  const timeoutMs = interactive ? opts.interactiveTimeoutMs : opts.timeoutMs;
  const env: Record<string, string> = {
    KUBERNETES_EXEC_INFO: execInfo(exec, interactive, opts.cluster),
  };
  for (const e of exec.env ?? []) env[e.name] = e.value;
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(exec.command, {
      args: exec.args ?? [],
      env,
      stdin: interactive ? "inherit" : "null",
      stdout: "piped",
      stderr: interactive ? "inherit" : "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CredentialError(
        `credential plugin ${exec.command} was not found` +
          (exec.installHint ? ` (${exec.installHint.trim()})` : " (is it on PATH?)"),
      );
    }
    throw new CredentialError(
      `credential plugin ${exec.command} could not run: ${(e as Error).message}`,
    );
  }
  if (out.signal === "SIGTERM" || out.signal === "SIGKILL") {
    throw new CredentialError(`credential plugin ${exec.command} took more than ${timeoutMs} ms`);
  }
  if (!out.success) {
    // Its error output went to the terminal when interactive; else only its shape is told.
    const stderr = interactive ? "" : new TextDecoder().decode(out.stderr);
    throw new CredentialError(
      `credential plugin ${exec.command} exited with ${out.code}` +
        (stderr.trim()
          ? ` (its error output: ${describeOutput(stderr)}; ${readItYourself(exec.command)})`
          : ""),
    );
  }
  return parseExecCredential(new TextDecoder().decode(out.stdout), exec.command);
}
