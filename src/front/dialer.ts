/**
 * What the fronts need from the rest of ktctl: a way to open a destination. The fronts own this
 * seam (as go-socks5's config does for dial and resolve), so they can be tested with any dialer
 * and never import the cluster code behind the real one. Failures are `DialError`s whose kind
 * each protocol answers in its own terms.
 * @module
 */
import type { Upstream } from "../net/upstream.ts";

export interface Dialed {
  upstream: Upstream;
  /** What the destination matched ("service demo/web:80", "direct"), for the connection log. */
  via: string;
  /**
   * Only for a dial with `httpRequest`: `upstream` is a connection to an HTTP proxy (the user's
   * upstream), which takes requests in absolute form (with these credentials), not a tunnel.
   */
  proxyForm?: {
    /** The proxy, for messages (`http://host:port`, never its credentials). */
    proxy: string;
    credentials?: { username: string; password: string };
  };
}

/** What the front will send over the connection, when it knows. */
export interface DialHint {
  /** Plain HTTP requests the front writes itself (absolute-form forwarding). */
  httpRequest?: boolean;
}

export interface Dialer {
  /** Opens `host:port` (a name or a canonical IP); rejects with a DialError. */
  dial(host: string, port: number, hint?: DialHint): Promise<Dialed>;
}

// The admission verdict is the peer layer's (one type); the fronts see it through this seam.
export type { Admission, AdmissionCheck } from "../peer/verdict.ts";

/** The pages ktctl serves itself on its port: the PAC file, the live page and its JSON. */
export interface LocalPages {
  pac(): string;
  about(): string;
  /** `/api/status`: the live view's data as JSON (docs/status-api.md). */
  status?(): string;
}
