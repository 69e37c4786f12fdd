/**
 * Service and Node lists in the API server's protobuf encoding, of which only the fields routing
 * needs are read; the rest (managedFields, annotations, a node's status) are skipped by their
 * length.
 *
 * Why: ktctl lists every Service at start-up, and that list grows with the cluster. At 10,000
 * services the API server took 0.67-0.93 s to the first byte of the JSON list (23.8 MB) and
 * 0.06 s for the same list in protobuf (9.2 MB): its JSON encoder, not the network or ktctl, was
 * most of the banner's wait. Nodes are listed for their pod ranges alone (see node_ranges.ts),
 * and a real node's status (its image list above all) is most of its size. Watches stay JSON: an
 * event is one object.
 *
 * The field numbers are those of k8s.io/api core/v1 and k8s.io/apimachinery's generated.proto,
 * which Kubernetes keeps stable across releases. The wire format is read by wire_reader.ts; the
 * bytes are untrusted: anything malformed throws {@link ProtoDecodeError}, never
 * reads out of bounds, and nesting is bounded by the schema (groups are refused).
 *
 * ```ts
 * const page = decodeServiceList(bytes); // { items, continue, resourceVersion }
 * ```
 * @module
 */
import { LEN, VARINT, WireReader } from "./wire_reader.ts";
import {
  decodeNode,
  decodeService,
  type NodeInfo,
  nodeRanges,
  serviceAddresses,
  type ServiceInfo,
  type ServicePort,
} from "./objects.ts";

/** The media type to ask for; the server may still answer JSON (aggregated APIs, proxies). */
export const PROTOBUF = "application/vnd.kubernetes.protobuf";

export class ProtoDecodeError extends Error {
  override name = "ProtoDecodeError";
}

/** One page of a list, decoded. */
export interface ListPage<T> {
  items: T[];
  continue: string;
  resourceVersion: string;
  /** How many items are left after this page, when the server says (`remainingItemCount`). */
  remainingItemCount?: number;
}

const MAGIC = [0x6b, 0x38, 0x73, 0x00]; // "k8s\0"

/** Reads the fields of one message that ends at `end`, calling `field` for each. */
function fields(
  r: WireReader,
  end: number,
  field: (no: number, wire: number) => void,
): void {
  while (r.pos < end) {
    const tag = r.uint32();
    const no = tag >>> 3, wire = tag & 7;
    if (no === 0) throw new ProtoDecodeError(`field number 0 at byte ${r.pos}`);
    field(no, wire);
    if (r.pos > end) throw new ProtoDecodeError(`a field runs past its message at byte ${r.pos}`);
  }
}

/** Skips a field ktctl does not read. Groups (wire types 3, 4) are not used by Kubernetes. */
function skip(r: WireReader, wire: number): void {
  if (wire === 3 || wire === 4 || wire > 5) {
    throw new ProtoDecodeError(`wire type ${wire} at byte ${r.pos}`);
  }
  r.skipType(wire);
}

/** The end of a length-delimited field that starts at the reader's position. */
function sub(r: WireReader, wire: number, end: number): number {
  if (wire !== LEN) throw new ProtoDecodeError(`wire type ${wire} where a message was expected`);
  const len = r.uint32();
  const stop = r.pos + len;
  if (stop > end) throw new ProtoDecodeError(`a message of ${len} bytes runs past its parent`);
  return stop;
}

const utf8 = new TextDecoder();

function str(r: WireReader, wire: number): string {
  if (wire !== LEN) throw new ProtoDecodeError(`wire type ${wire} where a string was expected`);
  const len = r.uint32();
  const end = r.pos + len;
  if (end > r.len) throw new ProtoDecodeError(`a string of ${len} bytes runs past the message`);
  // Native decoding, not a string built from character codes in JavaScript (protobufjs's
  // string(), used before): at 10,000 services ktctl peaked at 123-125 MB with it, 117-118 MB with this
  // (the JSON path: 117 MB).
  const value = utf8.decode(r.buf.subarray(r.pos, end));
  r.pos = end;
  return value;
}

/**
 * One copy of each repeated string of a page (namespaces, types, protocols, port names,
 * selector keys): what ktctl keeps of 10,000 services shrinks, as JSON.parse's internalizing
 * of short strings does for the JSON path. Per page, so it never outgrows one.
 */
class Strings {
  #seen = new Map<string, string>();
  same(value: string): string {
    const known = this.#seen.get(value);
    if (known !== undefined) return known;
    this.#seen.set(value, value);
    return value;
  }
}

function int(r: WireReader, wire: number): number {
  if (wire !== VARINT) throw new ProtoDecodeError(`wire type ${wire} where a number was expected`);
  return r.int32();
}

/** Decodes `fn` over a whole buffer, turning the reader's RangeErrors into ProtoDecodeErrors. */
function decoding<T>(bytes: Uint8Array, fn: (r: WireReader) => T): T {
  try {
    return fn(new WireReader(bytes));
  } catch (e) {
    if (e instanceof ProtoDecodeError) throw e;
    throw new ProtoDecodeError(`truncated or malformed: ${(e as Error).message}`);
  }
}

/**
 * The object inside the envelope every protobuf response has: "k8s\0", then a runtime.Unknown
 * whose typeMeta names the kind and whose raw field holds the object.
 */
export function unwrap(bytes: Uint8Array): { kind: string; raw: Uint8Array } {
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ProtoDecodeError("not a Kubernetes protobuf message (no k8s\\0 prefix)");
  }
  const body = bytes.subarray(MAGIC.length);
  return decoding(body, (r) => {
    let kind = "", encoding = "";
    let raw: Uint8Array | undefined;
    fields(r, body.length, (no, wire) => {
      if (no === 1) {
        const end = sub(r, wire, body.length);
        fields(r, end, (n, w) => n === 2 ? kind = str(r, w) : skip(r, w));
      } else if (no === 2) {
        if (wire !== LEN) throw new ProtoDecodeError(`wire type ${wire} for raw`);
        raw = r.bytes();
      } else if (no === 3) encoding = str(r, wire);
      else skip(r, wire);
    });
    if (encoding) throw new ProtoDecodeError(`content encoding ${encoding} is not supported`);
    if (raw === undefined) throw new ProtoDecodeError("the envelope holds no object");
    return { kind, raw };
  });
}

/** metav1.Status's message (field 3), for an error answered in protobuf; "" if it has none. */
export function statusMessage(bytes: Uint8Array): string {
  const { kind, raw } = unwrap(bytes);
  if (kind !== "Status") throw new ProtoDecodeError(`expected a Status, got ${kind || "no kind"}`);
  return decoding(raw, (r) => {
    let message = "";
    fields(r, raw.length, (no, wire) => no === 3 ? message = str(r, wire) : skip(r, wire));
    return message;
  });
}

/**
 * A list page of `kind`: ListMeta = 1 (resourceVersion 2, continue 3), items = 2, each read by
 * `item` up to its end.
 */
function decodeList<T>(
  bytes: Uint8Array,
  kind: string,
  item: (r: WireReader, end: number, strings: Strings) => T,
): ListPage<T> {
  const { kind: got, raw } = unwrap(bytes);
  if (got !== kind) throw new ProtoDecodeError(`expected a ${kind}, got ${got || "no kind"}`);
  return decoding(raw, (r) => {
    const page: ListPage<T> = { items: [], continue: "", resourceVersion: "" };
    const strings = new Strings();
    fields(r, raw.length, (no, wire) => {
      if (no === 1) {
        const end = sub(r, wire, raw.length);
        fields(r, end, (n, w) => {
          if (n === 2) page.resourceVersion = str(r, w);
          else if (n === 3) page.continue = str(r, w);
          else if (n === 4) page.remainingItemCount = Math.max(0, int(r, w));
          else skip(r, w);
        });
      } else if (no === 2) page.items.push(item(r, sub(r, wire, raw.length), strings));
      else skip(r, wire);
    });
    return page;
  });
}

/** A v1 ServiceList page in protobuf, as {@link ServiceInfo}s like `decodeService` makes. */
export function decodeServiceList(bytes: Uint8Array): ListPage<ServiceInfo> {
  return decodeList(bytes, "ServiceList", service);
}

/**
 * A v1 NodeList page in protobuf, as {@link NodeInfo}s like `decodeNode` makes. A node's status
 * (images, conditions: most of its bytes) is skipped by its length.
 */
export function decodeNodeList(bytes: Uint8Array): ListPage<NodeInfo> {
  return decodeList(bytes, "NodeList", node);
}

/**
 * A v1 PodList page in protobuf, reading of each pod only its addresses and whether it uses its
 * node's network (what the start-up sample of pods needs: see cluster/view.ts). Everything else
 * (managedFields, annotations, the containers' env: ~10 KB a pod in JSON) is skipped by its
 * length, never decoded.
 */
export function decodePodAddressList(bytes: Uint8Array): ListPage<PodAddresses> {
  return decodeList(bytes, "PodList", podAddresses);
}

/** A pod's addresses as the start-up sample reads them. */
export interface PodAddresses {
  ips: string[];
  hostNetwork: boolean;
}

/** Pod addresses from a JSON pod: `status.podIPs`, else `status.podIP`. */
export function podAddressesOf(raw: unknown): PodAddresses {
  const o = raw !== null && typeof raw === "object" ? raw as Record<string, unknown> : {};
  const spec = (o.spec ?? {}) as { hostNetwork?: unknown };
  const status = (o.status ?? {}) as { podIP?: unknown; podIPs?: unknown };
  const ips = (Array.isArray(status.podIPs) ? status.podIPs : [])
    .map((p) => (p !== null && typeof p === "object" ? (p as { ip?: unknown }).ip : undefined))
    .filter((ip): ip is string => typeof ip === "string" && ip !== "");
  if (ips.length === 0 && typeof status.podIP === "string" && status.podIP) ips.push(status.podIP);
  return { ips, hostNetwork: spec.hostNetwork === true };
}

/** Pod addresses from JSON items or protobuf pages. */
export const podAddressDecoder = { json: podAddressesOf, protobufList: decodePodAddressList };

/** Services from JSON items or protobuf pages: what the service list and its watch decode with. */
export const serviceDecoder = { json: decodeService, protobufList: decodeServiceList };

/** Nodes from JSON items or protobuf pages. */
export const nodeDecoder = { json: decodeNode, protobufList: decodeNodeList };

/** core/v1 Pod: spec = 2 (hostNetwork 11), status = 3 (podIP 6, podIPs 12: PodIP, ip 1). */
function podAddresses(r: WireReader, end: number, strings: Strings): PodAddresses {
  let hostNetwork = false, podIP = "";
  const ips: string[] = [];
  fields(r, end, (no, wire) => {
    if (no === 2) {
      const stop = sub(r, wire, end);
      fields(r, stop, (n, w) => {
        if (n === 11) {
          if (w !== VARINT) throw new ProtoDecodeError(`wire type ${w} for hostNetwork`);
          hostNetwork = r.bool();
        } else skip(r, w);
      });
    } else if (no === 3) {
      const stop = sub(r, wire, end);
      fields(r, stop, (n, w) => {
        if (n === 6) podIP = str(r, w);
        else if (n === 12) {
          const ipEnd = sub(r, w, stop);
          fields(r, ipEnd, (k, kw) => {
            if (k === 1) {
              const ip = str(r, kw);
              if (ip) ips.push(strings.same(ip));
            } else skip(r, kw);
          });
        } else skip(r, w);
      });
    } else skip(r, wire);
  });
  if (ips.length === 0 && podIP) ips.push(podIP);
  return { ips, hostNetwork };
}

/** core/v1 Node: metadata = 1 (name 1), spec = 2 (podCIDR 1, podCIDRs 7). */
function node(r: WireReader, end: number): NodeInfo {
  let name = "", podCIDR = "";
  const podCIDRs: string[] = [];
  fields(r, end, (no, wire) => {
    if (no === 1) {
      const stop = sub(r, wire, end);
      fields(r, stop, (n, w) => n === 1 ? name = str(r, w) : skip(r, w));
    } else if (no === 2) {
      const stop = sub(r, wire, end);
      fields(r, stop, (n, w) => {
        if (n === 1) podCIDR = str(r, w);
        else if (n === 7) podCIDRs.push(str(r, w));
        else skip(r, w);
      });
    } else skip(r, wire);
  });
  return { name, podCIDRs: nodeRanges(podCIDRs, podCIDR) };
}

/** core/v1 Service: metadata = 1 (name 1, namespace 3), spec = 2. */
function service(r: WireReader, end: number, strings: Strings): ServiceInfo {
  const svc: ServiceInfo = {
    namespace: "",
    name: "",
    type: "ClusterIP",
    clusterIPs: [],
    headless: false,
    externalName: undefined,
    ports: [],
    selector: undefined,
  };
  let clusterIP = "";
  fields(r, end, (no, wire) => {
    if (no === 1) {
      const stop = sub(r, wire, end);
      fields(r, stop, (n, w) => {
        if (n === 1) svc.name = str(r, w);
        else if (n === 3) svc.namespace = strings.same(str(r, w));
        else skip(r, w);
      });
    } else if (no === 2) {
      const stop = sub(r, wire, end);
      fields(r, stop, (n, w) => {
        if (n === 1) {
          const port = servicePort(r, sub(r, w, stop), strings);
          if (port) svc.ports.push(port);
        } else if (n === 2) {
          const [k, v] = mapEntry(r, sub(r, w, stop));
          (svc.selector ??= {})[strings.same(k)] = strings.same(v);
        } else if (n === 3) clusterIP = str(r, w);
        else if (n === 4) svc.type = strings.same(str(r, w) || "ClusterIP");
        else if (n === 10) svc.externalName = str(r, w) || undefined;
        else if (n === 18) {
          const ip = str(r, w);
          if (ip) svc.clusterIPs.push(ip);
        } else skip(r, w);
      });
    } else skip(r, wire);
  });
  return { ...svc, ...serviceAddresses(svc.clusterIPs, clusterIP) };
}

/** ServicePort: name 1, protocol 2, port 3, targetPort 4 (IntOrString: type 1, int 2, str 3). */
function servicePort(r: WireReader, end: number, strings: Strings): ServicePort | undefined {
  let name = "", protocol = "", port: number | undefined;
  let target: number | string | undefined;
  fields(r, end, (no, wire) => {
    if (no === 1) name = str(r, wire);
    else if (no === 2) protocol = str(r, wire);
    else if (no === 3) port = int(r, wire);
    else if (no === 4) {
      const stop = sub(r, wire, end);
      let type = 0, intVal = 0, strVal = "";
      fields(r, stop, (n, w) => {
        if (n === 1) type = int(r, w);
        else if (n === 2) intVal = int(r, w);
        else if (n === 3) strVal = str(r, w);
        else skip(r, w);
      });
      target = type === 1 ? strings.same(strVal) : intVal;
    } else skip(r, wire);
  });
  if (port === undefined) return undefined;
  return {
    name: name ? strings.same(name) : undefined,
    port,
    protocol: strings.same(protocol || "TCP"),
    targetPort: target,
  };
}

/** A map<string, string> entry: key 1, value 2. */
function mapEntry(r: WireReader, end: number): [string, string] {
  let key = "", value = "";
  fields(r, end, (no, wire) => {
    if (no === 1) key = str(r, wire);
    else if (no === 2) value = str(r, wire);
    else skip(r, wire);
  });
  return [key, value];
}
