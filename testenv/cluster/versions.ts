/**
 * Every version the local control plane uses, pinned in one place.
 *
 * Changing anything here changes `VERSION_KEY`, so the next `deno task cluster up` builds a fresh
 * `bin-<VERSION_KEY>/` directory in the cache instead of reusing stale binaries.
 */

/** k8s.io/kubernetes module version: kube-apiserver, kube-controller-manager. */
export const KUBERNETES_VERSION = "v1.34.12";
/** Published staging modules (k8s.io/api, k8s.io/client-go, ...) matching KUBERNETES_VERSION. */
export const KUBERNETES_STAGING_VERSION = "v0.34.12";
/** go.etcd.io/etcd/server/v3 (the etcd server is built from its `etcdmain` package). */
export const ETCD_VERSION = "v3.6.16";
/** sigs.k8s.io/kwok: `kwok` (fake kubelet, the kwok-controller) and `kwokctl`. */
export const KWOK_VERSION = "v0.8.0";
/** Go toolchain the build needs at least (kwok v0.8.0 and etcd 3.6.16 require 1.26). */
export const GO_MIN_VERSION = "1.26";
/** Bump when the build recipe itself (flags, module layout) changes. */
export const BUILD_RECIPE = 1;

/** Name of the cache directory holding the binaries for exactly these versions. */
export const VERSION_KEY =
  `k8s${KUBERNETES_VERSION}-etcd${ETCD_VERSION}-kwok${KWOK_VERSION}-r${BUILD_RECIPE}`;
