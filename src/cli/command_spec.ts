/**
 * What ktctl's command line accepts, as data: the commands, their flags (long and short names,
 * value names, descriptions, defaults, choices, repeatable) and operands, and each command's
 * Examples. The parser (parse_args.ts) and the help (help.ts) both read this table, so a flag is
 * declared once and is listed in `--help` the moment it is accepted. Flags keep kt-connect's
 * camelCase spellings, which its users know; the parser hands them over under those names.
 * @module
 */
import { DEFAULT_MAX_CONNECTIONS } from "../net/tcp_listen.ts";

/** One flag. Without `value` it is a boolean (present: true, absent: not set). */
export interface FlagSpec {
  /** The long name without `--`: also the key the parser hands over. */
  readonly long: string;
  /** One letter, without `-`. */
  readonly short?: string;
  /** The value's name in help (`--proxyPort <port>`); absent: the flag takes no value. */
  readonly value?: string;
  readonly description: string;
  /** Set when the flag is not given (shown as `default: "..."`). */
  readonly default?: string;
  /** The only values accepted (shown as `choices: ...`). */
  readonly choices?: readonly string[];
  /** Every occurrence is kept, in order (a string[]); else the last one wins. */
  readonly repeatable?: boolean;
}

/** One operand (positional argument). */
export interface OperandSpec {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
  /** Takes every remaining operand (at least one when required). */
  readonly variadic: boolean;
}

export interface CommandSpec {
  readonly name: string;
  readonly description: string;
  /** The usage line's tail after the command's name; else built from flags and operands. */
  readonly usage?: string;
  readonly flags: readonly FlagSpec[];
  readonly operands: readonly OperandSpec[];
  /**
   * Words after `--` are a command to run, kept verbatim; its operand (the first of `operands`)
   * is filled only from them, and operands given without `--` are refused with `dashDashHint`.
   */
  readonly dashDashCommand?: { readonly hint: string };
  /** Printed after the option list, as is. */
  readonly examples?: string;
  /** It opens TLS connections to the API server (main.ts starts the TLS library early). */
  readonly reachesCluster?: boolean;
}

export interface ProgramSpec {
  readonly name: string;
  readonly description: string;
  readonly commands: readonly CommandSpec[];
  readonly examples: string;
}

/** The command called `name`, if the program has one. */
export function findCommand(program: ProgramSpec, name: string): CommandSpec | undefined {
  return program.commands.find((c) => c.name === name);
}

/** Flags every command that reaches the cluster takes, with kt-connect's spellings. */
const GLOBAL_FLAGS: readonly FlagSpec[] = [
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

/** `--method` and `--portForward`: the values validateConnectFlags accepts, in help's order. */
const PORT_FORWARD_MODES = ["multiplexed", "websocket"] as const;

const CONNECT: CommandSpec = {
  name: "connect",
  reachesCluster: true,
  description:
    "start a local proxy into the cluster: SOCKS4/4a, SOCKS5 and HTTP on one port (Ctrl+C stops it)",
  usage: "[options] [-- COMMAND [ARGS...]]",
  flags: [
    {
      long: "method",
      value: "method",
      description:
        "what to print and set up: socks (SOCKS4a; the Windows system proxy), socks5, or " +
        "http (http_proxy/https_proxy and a PAC file); every mode serves all three",
      choices: ["socks", "socks5", "http"],
      default: "socks",
    },
    { long: "proxyPort", value: "port", description: "local port to listen on", default: "2223" },
    {
      long: "proxyAddr",
      value: "address",
      description: "local address to listen on",
      default: "127.0.0.1",
    },
    {
      long: "setupGlobalProxy",
      description: "on Windows, while connected: set the user's http_proxy (and https_proxy in " +
        "http mode) and the system proxy (socks mode: socks=; http mode: the PAC URL); restored " +
        "on exit or by `ktctl clean`. Elsewhere it changes nothing: set the variables the banner " +
        "prints",
    },
    {
      long: "clusterDomain",
      value: "domain",
      description: "the cluster's DNS domain",
      default: "cluster.local",
    },
    {
      long: "dialDirect",
      value: "policy",
      description:
        "destinations outside the cluster: all, none, or address ranges (127.0.0.0/8,::1/128)",
      default: "all",
    },
    {
      long: "clusterCIDR",
      value: "ranges",
      description: "the cluster's pod and service ranges (default: guessed from the IPs seen)",
    },
    {
      long: "portForward",
      value: "mode",
      description: "multiplexed (one connection per pod, Kubernetes 1.30+; else as websocket) or " +
        "websocket (one WebSocket per proxied connection)",
      choices: PORT_FORWARD_MODES,
      default: "multiplexed",
    },
    {
      long: "allowOtherUsers",
      description: "also serve programs of other users on this machine (default: only your own)",
    },
    {
      long: "allowFrom",
      value: "ranges",
      description: "the only addresses besides 127.0.0.1 and ::1 that may connect " +
        "(192.168.1.0/24,10.0.0.5); required when --proxyAddr is not a loopback address",
    },
    {
      long: "maxConnections",
      value: "count",
      description: "the most connections open at once; more are closed as they come",
      default: String(DEFAULT_MAX_CONNECTIONS),
    },
    {
      long: "upstreamProxy",
      value: "url",
      description:
        "the proxy for destinations outside the cluster: http://[user:pass@]host:port, " +
        "socks5://host:port, pac+http(s)://host/x.pac, or none (default: the system settings " +
        "on Windows, else http_proxy/https_proxy/all_proxy/no_proxy)",
    },
    {
      long: "allowLocalTargets",
      description:
        "let ExternalName services point at this machine (loopback, link-local, ktctl's address)",
    },
    {
      long: "forward",
      value: "TARGET:[LOCAL:]REMOTE",
      description: "also forward a local port to a service, pod or deployment port (repeatable), " +
        "e.g. svc/db.demo:5432 or deployment/redis:16379:6379",
      repeatable: true,
    },
    ...GLOBAL_FLAGS,
  ],
  operands: [{
    name: "command",
    description: "after --: run COMMAND [ARGS...] with its proxy variables pointed at ktctl, " +
      "then stop and exit with its exit code",
    required: false,
    variadic: true,
  }],
  dashDashCommand: {
    hint: "put -- before a command to run (ktctl connect [options] -- COMMAND [ARGS...])",
  },
  examples: `
Examples:
  ktctl connect --context prod -n shop   # short names (web) mean web.shop
  ktctl connect --method http --proxyPort 3128
  ktctl connect --dialDirect none        # only the cluster; nothing else through ktctl
  ktctl connect --clusterCIDR 10.96.0.0/12,10.244.0.0/16
  ktctl connect --forward svc/db.demo:5432 -- psql -h 127.0.0.1 -U app
Then, in another console: curl http://web.shop/ with the http_proxy it prints.
Open the printed address in a browser for the live view.
`,
};

const FORWARD: CommandSpec = {
  name: "forward",
  reachesCluster: true,
  description: "forward local ports to a service's, pod's or deployment's ports; each connection " +
    "goes to a ready pod, so the forward survives pod restarts (Ctrl+C stops it)",
  flags: [
    {
      long: "address",
      value: "address",
      description: "local loopback address to listen on (any 127.x.y.z or ::1)",
      default: "127.0.0.1",
    },
    {
      long: "clusterDomain",
      value: "domain",
      description: "the cluster's DNS domain",
      default: "cluster.local",
    },
    {
      long: "portForward",
      value: "mode",
      description: "multiplexed (one connection per pod, Kubernetes 1.30+; else as websocket) or " +
        "websocket (one WebSocket per connection)",
      choices: PORT_FORWARD_MODES,
      default: "multiplexed",
    },
    {
      long: "allowOtherUsers",
      description: "also serve programs of other users on this machine (default: only your own)",
    },
    ...GLOBAL_FLAGS,
  ],
  operands: [
    {
      name: "target",
      description: "svc, svc.ns, service/svc, pod/name or deployment/name",
      required: true,
      variadic: false,
    },
    {
      name: "ports",
      description: "[LOCAL:]REMOTE: REMOTE a port number or name; LOCAL defaults to the same " +
        "number, :REMOTE picks a free one",
      required: true,
      variadic: true,
    },
  ],
  examples: `
Examples:
  ktctl forward svc/db.demo 5432         # 127.0.0.1:5432 to the service db in namespace demo
  ktctl forward deployment/redis 16379:6379 :metrics
`,
};

const CLEAN: CommandSpec = {
  name: "clean",
  description: "put back the proxy settings a crashed connect left behind",
  flags: [
    { long: "dryRun", description: "only print what would be done" },
    { long: "debug", short: "d", description: "log more detail" },
  ],
  operands: [],
  examples: `
Examples:
  ktctl clean --dryRun                   # only say what would be put back
`,
};

const STATUS: CommandSpec = {
  name: "status",
  description: "list the ktctl processes running for this user: address, mode, context, " +
    "uptime, connections and failures in the last minute (exit 1 when none runs)",
  flags: [{ long: "json", description: "print the list as JSON (docs/status-api.md)" }],
  operands: [],
  examples: `
Examples:
  ktctl status
  ktctl status --json | jq '.processes[].status.traffic.lastMinute'
`,
};

const VERSION_COMMAND: CommandSpec = {
  name: "version",
  description: "print the version",
  flags: [],
  operands: [],
};

/** `ktctl help [command]`: handled by the parser itself; listed so help shows it. */
export const HELP_COMMAND: CommandSpec = {
  name: "help",
  description: "display help for command",
  flags: [],
  operands: [{ name: "command", description: "", required: false, variadic: false }],
};

/** `-h, --help`: every command takes it. */
export const HELP_FLAG: FlagSpec = {
  long: "help",
  short: "h",
  description: "display help for command",
};

/** `-v, --version`: before any command only. */
export const VERSION_FLAG: FlagSpec = {
  long: "version",
  short: "v",
  description: "print the version",
};

export const PROGRAM: ProgramSpec = {
  name: "ktctl",
  description:
    "Reach a Kubernetes cluster's pods and services from this machine through a local proxy",
  commands: [CONNECT, FORWARD, CLEAN, STATUS, VERSION_COMMAND],
  examples: `
Examples:
  ktctl connect                          # SOCKS on 127.0.0.1:2223; prints the http_proxy to set
  ktctl connect --method http            # an HTTP proxy and a PAC file for browsers
  ktctl status                           # what runs, and its connections in the last minute
  ktctl clean                            # put back settings a killed connect left
`,
};
