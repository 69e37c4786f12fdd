/**
 * Flags every command that reaches the cluster takes, with kt-connect's spellings (`-n`, `-c`,
 * `--context`, `-d`).
 * @module
 */
import type { FlagSpec } from "./command_spec.ts";

export interface GlobalFlags {
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  debug?: boolean;
}

export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  {
    long: "namespace",
    short: "n",
    value: "name",
    description: "namespace that short names refer to (default: the context's)",
  },
  {
    long: "kubeconfig",
    short: "c",
    value: "path",
    description: "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)",
  },
  {
    long: "context",
    value: "name",
    description: "kubeconfig context to use (default: the current context)",
  },
  { long: "debug", short: "d", description: "log every proxied connection and other detail" },
];
