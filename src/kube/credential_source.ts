/**
 * Credentials that change while ktctl runs: tokens from exec plugins (EKS, GKE, AKS: 15-60 min),
 * token files that are rotated (projected service-account tokens), and client certificates.
 *
 * What @kubernetes/client-node 2.0.1 did, which ktctl used before, and why that was not enough:
 * - exec: caches the ExecCredential per user until `expirationTimestamp`, then runs the plugin on
 *   the next request. Nothing is refreshed ahead of expiry (a request sent just before it meets a
 *   401), a 401 does not drop the cached token (one without an expiry is kept for good), every
 *   concurrent request runs its own plugin when the cache is empty, and a failing plugin is run
 *   (and fails) again for every request.
 * - `token-file`: read once, when the kubeconfig is loaded (`findToken`); a rotated file is
 *   never seen. (Its FileAuth re-reads only the in-cluster `authProvider.config.tokenFile`.)
 * - client certificate files: read afresh on every request, so a renewed file is picked up
 *   as it is; nothing to add.
 *
 * So ktctl does both itself (credentials.ts builds a source per user): one plugin run at a time,
 * a fresh one started ahead of expiry while the old token still serves, the token dropped on a
 * 401 (see {@link credentialsRejected}), and a failure reported once, then not retried before a
 * backoff. Every path (API requests, watches, port-forwards, either TLS stack) asks the same
 * source.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  CredentialError,
  type CredentialMaterial,
  type ExecConfig,
  runExecPlugin,
  type RunOptions,
} from "./credential_exec.ts";

export { CredentialError, type CredentialMaterial };

const log = getLogger(["ktctl", "connect"]);

export interface LifecycleOptions {
  now: () => number;
  runPlugin: (exec: ExecConfig, opts: RunOptions) => Promise<CredentialMaterial>;
  readFile: (path: string) => string;
  plugin: Omit<RunOptions, "cluster">;
  /** A token file is read at most this often (it is small), and always after a 401. */
  fileCheckMs: number;
  /** After a failed plugin run: wait this long, doubling up to `maxBackoffMs`, before the next. */
  backoffMs: number;
  maxBackoffMs: number;
  /** A token this young that gets a 401 is not replaced at once (the 401 is not about age). */
  minRefreshMs: number;
}

export const defaultLifecycleOptions: LifecycleOptions = {
  now: () => Date.now(),
  runPlugin: runExecPlugin,
  readFile: (path) => Deno.readTextFileSync(path),
  plugin: { timeoutMs: 60_000, interactiveTimeoutMs: 5 * 60_000 },
  fileCheckMs: 1_000,
  backoffMs: 2_000,
  maxBackoffMs: 60_000,
  minRefreshMs: 2_000,
};

/** How early a token is replaced: a fifth of its life, at most a minute. */
export function refreshAhead(lifetimeMs: number): number {
  return Math.min(60_000, Math.max(0, lifetimeMs) / 5);
}

export interface Source {
  get(): Promise<CredentialMaterial>;
  /**
   * The server said 401 to `token`: replace it (unless it is already replaced). Whether the next
   * get() may give other credentials.
   */
  rejected(token: string | undefined): boolean;
}

/** An exec plugin's credentials, refreshed ahead of expiry, one run at a time. */
export class ExecSource implements Source {
  #current: { material: CredentialMaterial; obtainedAt: number; stale: boolean } | undefined;
  #running: Promise<CredentialMaterial> | undefined;
  #failure: { error: CredentialError; retryAt: number; backoffMs: number } | undefined;

  constructor(
    readonly exec: ExecConfig,
    readonly opts: LifecycleOptions,
    readonly cluster?: Record<string, unknown>,
  ) {}

  get(): Promise<CredentialMaterial> {
    const now = this.opts.now();
    const c = this.#current;
    if (c && !c.stale) {
      const expiresAt = c.material.expiresAt;
      if (expiresAt === undefined) return Promise.resolve(c.material);
      const refreshAt = expiresAt - refreshAhead(expiresAt - c.obtainedAt);
      if (now < refreshAt) return Promise.resolve(c.material);
      if (now < expiresAt) {
        // Still good: serve it while the next one is fetched.
        if (!this.#failure || now >= this.#failure.retryAt) this.#run().catch(() => {});
        return Promise.resolve(c.material);
      }
    }
    if (this.#failure && now < this.#failure.retryAt && !this.#running) {
      return Promise.reject(this.#failure.error);
    }
    return this.#run();
  }

  rejected(token: string | undefined): boolean {
    const c = this.#current;
    if (!c || c.stale) return true;
    if (token !== undefined && c.material.token !== token) return true; // replaced meanwhile
    if (this.opts.now() - c.obtainedAt < this.opts.minRefreshMs) return false;
    c.stale = true;
    log.debug("The API server rejected the credential plugin's token: asking it for a new one");
    return true;
  }

  #run(): Promise<CredentialMaterial> {
    this.#running ??= (async () => {
      try {
        const material = await this.opts.runPlugin(this.exec, {
          ...this.opts.plugin,
          cluster: this.cluster,
        });
        if (this.#failure) {
          log.info("The credential plugin {command} works again", { command: this.exec.command });
        }
        this.#failure = undefined;
        this.#current = { material, obtainedAt: this.opts.now(), stale: false };
        log.debug("Credential plugin {command} gave credentials valid until {until}", {
          command: this.exec.command,
          until: material.expiresAt ? new Date(material.expiresAt).toISOString() : "revoked",
        });
        return material;
      } catch (e) {
        const error = e instanceof CredentialError ? e : new CredentialError(String(e));
        const backoffMs = this.#failure
          ? Math.min(this.#failure.backoffMs * 2, this.opts.maxBackoffMs)
          : this.opts.backoffMs;
        this.#failure = { error, retryAt: this.opts.now() + backoffMs, backoffMs };
        // One line per failed run; runs are spaced by the backoff, not by connections.
        log.warn("{error}; trying again in {seconds} s at the earliest", {
          error: error.message,
          seconds: Math.round(backoffMs / 1000),
        });
        throw error;
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }
}

/** A token file, re-read when it changes on disk or after a 401. */
export class FileSource implements Source {
  #current: { token: string; checkedAt: number } | undefined;
  #recheck = false;
  #reported = "";

  constructor(readonly path: string, readonly opts: LifecycleOptions) {}

  get(): Promise<CredentialMaterial> {
    const now = this.opts.now();
    const c = this.#current;
    if (c && !this.#recheck && now - c.checkedAt < this.opts.fileCheckMs) {
      return Promise.resolve({ token: c.token });
    }
    this.#recheck = false;
    try {
      const token = this.opts.readFile(this.path).trim();
      if (!token) throw new Error("the file is empty");
      if (c && c.token !== token) log.debug("Token file {path} changed", { path: this.path });
      this.#current = { token, checkedAt: now };
      this.#reported = "";
      return Promise.resolve({ token });
    } catch (e) {
      const message = `cannot read the token file ${this.path}: ${(e as Error).message}`;
      if (message !== this.#reported) {
        this.#reported = message;
        log.warn("{message}{fallback}", {
          message,
          fallback: c ? "; using the token read before" : "",
        });
      }
      // Mid-rotation the file may be missing for a moment: the last token may still be good.
      if (c) {
        c.checkedAt = now;
        return Promise.resolve({ token: c.token });
      }
      return Promise.reject(new CredentialError(message));
    }
  }

  rejected(): boolean {
    this.#recheck = true;
    return true;
  }
}

/**
 * The API server answered 401 to a request sent with `authorization` (its header): the next
 * request gets a new token (a plugin run, a file re-read). Whether a retry may meet other
 * credentials: false for ones that never change, or a plugin's token just handed out.
 */
export function credentialsRejected(
  config: { rejected(authorization?: string): boolean },
  authorization?: string,
): boolean {
  return config.rejected(authorization);
}
