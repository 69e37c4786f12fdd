/**
 * Which part of the cluster ktctl sees: everything, or one namespace when the user may list only
 * that one. Its own module because both the view (which decides it at start) and the on-demand
 * lookups (which stay inside it) need it, and neither should import the other for it.
 * @module
 */

/** Which part of the cluster the view covers. */
export type Scope = { kind: "cluster" } | { kind: "namespace"; namespace: string };
