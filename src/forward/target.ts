/**
 * The grammar of `ktctl forward TARGET [LOCAL:]REMOTE...` and `connect --forward
 * TARGET:[LOCAL:]REMOTE`, as kubectl port-forward and kt-connect 0.3 spell it. Pure: text in,
 * a checked {@link ForwardSpec} or a {@link SpecError} naming what is wrong, out. Nothing here
 * knows the cluster; which port number a name means is decided later, per target.
 *
 * TARGET: `svc`, `svc.ns`, `service/svc` (also `svc/`, `services/`, and `service/svc.ns`),
 * `pod/name` (`po/`, `pods/`), `deployment/name` (`deploy/`, `deployments/`). Service names are
 * DNS labels, so a dot in one separates the namespace; pod and deployment names may contain
 * dots, so they take their namespace from `-n` only.
 * PORT: `REMOTE` (local = remote when it is a number), `LOCAL:REMOTE`, `:REMOTE` (a free local
 * port); REMOTE is a number or a port name.
 * @module
 */

export type TargetKind = "service" | "pod" | "deployment";

export interface ForwardTarget {
  kind: TargetKind;
  name: string;
  /** Given in the target itself (`svc.ns`); otherwise the command's namespace. */
  namespace?: string;
}

export interface PortSpec {
  /** The local port; 0 for "pick a free one"; undefined for "the same as the remote number". */
  local?: number;
  /** A port number, or the name of a service port (services) or a container port (pods). */
  remote: number | string;
}

export interface ForwardSpec {
  target: ForwardTarget;
  ports: PortSpec[];
}

/** A user's spelling that does not parse; the CLI words it with the flag or argument. */
export class SpecError extends Error {
  override name = "SpecError";
}

const KINDS: Record<string, TargetKind> = {
  svc: "service",
  service: "service",
  services: "service",
  po: "pod",
  pod: "pod",
  pods: "pod",
  deploy: "deployment",
  deployment: "deployment",
  deployments: "deployment",
};

/** RFC 1123 label (namespaces), and RFC 1035 label (service names). */
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SERVICE = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** RFC 1123 subdomain (pod and deployment names). */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** IANA service names (a service port's or a container port's `name`). */
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

/** Parses TARGET. */
export function parseTarget(text: string): ForwardTarget {
  const slash = text.indexOf("/");
  const kind = slash < 0 ? "service" : KINDS[text.slice(0, slash).toLowerCase()];
  const rest = slash < 0 ? text : text.slice(slash + 1);
  if (!kind) {
    throw new SpecError(
      `"${text}": the kind must be service/, pod/ or deployment/ (svc, po, deploy), not "${
        text.slice(0, slash)
      }"`,
    );
  }
  if (kind === "service") {
    const [name, namespace, ...extra] = rest.split(".");
    if (
      extra.length > 0 || !SERVICE.test(name) || (namespace !== undefined && !LABEL.test(namespace))
    ) {
      throw new SpecError(`"${text}" is not a service name (svc or svc.namespace)`);
    }
    return namespace === undefined ? { kind, name } : { kind, name, namespace };
  }
  if (rest.length > 253 || !SUBDOMAIN.test(rest)) {
    throw new SpecError(`"${text}" is not a ${kind} name`);
  }
  return { kind, name: rest };
}

/** Parses one `[LOCAL:]REMOTE`. */
export function parsePortSpec(text: string): PortSpec {
  const parts = text.split(":");
  if (parts.length > 2) {
    throw new SpecError(`"${text}" is not a port: use REMOTE, LOCAL:REMOTE or :REMOTE`);
  }
  const remoteText = parts.at(-1)!;
  const remote = parseRemote(remoteText, text);
  if (parts.length === 1) return { remote };
  const localText = parts[0];
  if (localText === "") return { local: 0, remote };
  const local = portNumber(localText);
  if (local === undefined) {
    throw new SpecError(`"${text}": the local port must be a number from 1 to 65535`);
  }
  return { local, remote };
}

function parseRemote(text: string, whole: string): number | string {
  if (/^\d+$/.test(text)) {
    const n = portNumber(text);
    if (n === undefined) throw new SpecError(`"${whole}": ports go from 1 to 65535`);
    return n;
  }
  if (!PORT_NAME.test(text)) {
    throw new SpecError(`"${whole}": the remote port must be a number or a port name`);
  }
  return text;
}

function portNumber(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** `ktctl forward TARGET PORT...`'s operands. */
export function parseForwardArgs(target: string, ports: string[]): ForwardSpec {
  if (ports.length === 0) {
    throw new SpecError(`no port to forward for "${target}": give at least one [LOCAL:]REMOTE`);
  }
  return { target: parseTarget(target), ports: ports.map(parsePortSpec) };
}

/** One `--forward TARGET:[LOCAL:]REMOTE` (the target never contains a colon). */
export function parseForwardFlag(text: string): ForwardSpec {
  const colon = text.indexOf(":");
  if (colon <= 0 || colon === text.length - 1) {
    throw new SpecError(`"${text}" is not TARGET:[LOCAL:]REMOTE (e.g. svc/db.demo:5432)`);
  }
  return {
    target: parseTarget(text.slice(0, colon)),
    ports: [parsePortSpec(text.slice(colon + 1))],
  };
}

/** The local port a spec asks for, once the remote's number is known (0: any free port). */
export function localPortOf(spec: PortSpec, remoteNumber: number): number {
  return spec.local ?? (typeof spec.remote === "number" ? spec.remote : remoteNumber);
}

/** How the target is named in the forward's line: "service demo/db", "pod demo/redis-0". */
export function describeTarget(t: ForwardTarget, namespace: string): string {
  return `${t.kind} ${t.namespace ?? namespace}/${t.name}`;
}
