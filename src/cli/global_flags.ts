/**
 * Flags every command takes, with kt-connect's spellings (`-n`, `-c`, `--context`, `-d`).
 * @module
 */
import type { Command } from "commander";

export interface GlobalFlags {
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  debug?: boolean;
}

export function addGlobalFlags(cmd: Command): Command {
  return cmd
    .option(
      "-n, --namespace <name>",
      "namespace that short names refer to (default: the context's)",
    )
    .option("-c, --kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    .option("--context <name>", "kubeconfig context to use (default: the current context)")
    .option("-d, --debug", "log every proxied connection and other detail");
}
