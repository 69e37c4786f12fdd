/**
 * The flags every command that reaches the cluster takes, as the Validate steps receive them
 * (their spellings, kt-connect's `-n`, `-c`, `--context`, `-d`, are in command_spec.ts).
 * @module
 */
export interface GlobalFlags {
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  debug?: boolean;
}
