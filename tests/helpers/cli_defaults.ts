/**
 * The flag values ktctl's commands get when none is given, as the README and `--help` document
 * them: what the parser must hand over (src/cli/command_spec.ts) and what the Validate steps start
 * from in tests.
 */
import type { ConnectFlags } from "../../src/cli/connect_options.ts";

export const CONNECT_DEFAULTS: Readonly<ConnectFlags> = {
  method: "socks",
  proxyPort: "2223",
  proxyAddr: "127.0.0.1",
  clusterDomain: "cluster.local",
  dialDirect: "all",
  portForward: "multiplexed",
  maxConnections: "4096",
};

export const FORWARD_DEFAULTS = {
  address: "127.0.0.1",
  clusterDomain: "cluster.local",
  portForward: "multiplexed",
} as const;
