/**
 * What a port-forward is opened to. It lives here, below the resolver that produces it, so the
 * tunnel layer never imports from the layer that decides routes.
 * @module
 */

/** One pod port that can serve a connection. */
export interface PodTarget {
  namespace: string;
  pod: string;
  port: number;
}
