/**
 * Encodes Service and Node lists and Statuses the way the API server does in protobuf (field numbers of
 * k8s.io/api and apimachinery's generated.proto, every non-pointer field written even when
 * empty, as gogo-protobuf does), for tests and the fuzzer of `src/kube/protobuf.ts`. The
 * e2e suite checks the decoder against the real API server's encoding as well.
 * @module
 */
import pb from "protobufjs/minimal";
import { decodeNodeList, decodeServiceList, ProtoDecodeError } from "../src/kube/protobuf.ts";
import { Rng } from "../fuzz/rng.ts";
import type { PropertyFailure } from "../fuzz/socks.ts";

export interface ServiceSpecJson {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  externalName?: string;
  selector?: Record<string, string>;
  ports?: { name?: string; protocol?: string; port: number; targetPort?: number | string }[];
}

export interface ServiceJson {
  metadata: { namespace: string; name: string; annotations?: Record<string, string> };
  spec: ServiceSpecJson;
}

function message(w: pb.Writer, field: number, body: (w: pb.Writer) => void): void {
  w.uint32((field << 3) | 2).fork();
  body(w);
  w.ldelim();
}

function string(w: pb.Writer, field: number, value: string): void {
  w.uint32((field << 3) | 2).string(value);
}

function map(w: pb.Writer, field: number, entries: Record<string, string>): void {
  for (const [k, v] of Object.entries(entries)) {
    message(w, field, (e) => {
      string(e, 1, k);
      string(e, 2, v);
    });
  }
}

function objectMeta(w: pb.Writer, m: ServiceJson["metadata"]): void {
  string(w, 1, m.name);
  string(w, 2, ""); // generateName
  string(w, 3, m.namespace);
  string(w, 5, `uid-${m.namespace}-${m.name}`);
  string(w, 6, "12345"); // resourceVersion
  w.uint32(7 << 3).int64(1); // generation
  message(w, 8, (t) => t.uint32(1 << 3).int64(1_700_000_000)); // creationTimestamp
  map(w, 11, { app: m.name });
  map(w, 12, m.annotations ?? {});
  // A managedFields entry: nested fields the decoder must skip by their length.
  message(w, 17, (mf) => {
    string(mf, 1, "kubectl");
    string(mf, 2, "Update");
    string(mf, 3, "v1");
    message(mf, 7, (f) => {
      f.uint32((1 << 3) | 2).bytes(new TextEncoder().encode('{"f:spec":{"f:ports":{}}}'));
    });
  });
}

function servicePort(w: pb.Writer, p: NonNullable<ServiceSpecJson["ports"]>[number]): void {
  string(w, 1, p.name ?? "");
  string(w, 2, p.protocol ?? "TCP");
  w.uint32(3 << 3).int32(p.port);
  message(w, 4, (t) => {
    const isString = typeof p.targetPort === "string";
    t.uint32(1 << 3).int64(isString ? 1 : 0);
    t.uint32(2 << 3).int32(isString ? 0 : (p.targetPort as number | undefined) ?? p.port);
    string(t, 3, isString ? p.targetPort as string : "");
  });
  w.uint32(5 << 3).int32(0); // nodePort
}

function serviceSpec(w: pb.Writer, s: ServiceSpecJson): void {
  for (const p of s.ports ?? []) message(w, 1, (e) => servicePort(e, p));
  map(w, 2, s.selector ?? {});
  string(w, 3, s.clusterIP ?? "");
  string(w, 4, s.type ?? "ClusterIP");
  string(w, 7, "None"); // sessionAffinity
  string(w, 10, s.externalName ?? "");
  for (const ip of s.clusterIPs ?? []) string(w, 18, ip);
  string(w, 19, "IPv4"); // ipFamilies
}

/** The envelope: "k8s\0", then runtime.Unknown { typeMeta { apiVersion, kind }, raw }. */
export function envelope(
  kind: string,
  raw: Uint8Array,
  contentEncoding = "",
): Uint8Array<ArrayBuffer> {
  const w = pb.Writer.create();
  message(w, 1, (t) => {
    string(t, 1, "v1");
    string(t, 2, kind);
  });
  w.uint32((2 << 3) | 2).bytes(raw);
  string(w, 3, contentEncoding);
  string(w, 4, "");
  const body = w.finish();
  const out = new Uint8Array(4 + body.length);
  out.set([0x6b, 0x38, 0x73, 0x00]);
  out.set(body, 4);
  return out;
}

export interface ListMetaJson {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

/** A list's writer with its ListMeta (field 1) written: selfLink, resourceVersion, continue. */
function listWriter(meta: ListMetaJson): pb.Writer {
  const w = pb.Writer.create();
  message(w, 1, (m) => {
    string(m, 1, "");
    string(m, 2, meta.resourceVersion ?? "100");
    string(m, 3, meta.continue ?? "");
    if (meta.remainingItemCount !== undefined) m.uint32(4 << 3).int64(meta.remainingItemCount);
  });
  return w;
}

export interface PodJson {
  metadata: { namespace: string; name: string; annotations?: Record<string, string> };
  spec: { nodeName?: string; hostNetwork?: boolean; env?: number };
  status: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
}

/**
 * A v1 PodList page as the API server sends it in protobuf: each pod with managedFields, a
 * container with `env` entries and ports, conditions, and its addresses.
 */
export function encodePodList(pods: PodJson[], meta: ListMetaJson = {}): Uint8Array<ArrayBuffer> {
  const w = listWriter(meta);
  for (const p of pods) {
    message(w, 2, (e) => {
      message(e, 1, (m) => objectMeta(m, p.metadata));
      message(e, 2, (sp) => {
        message(sp, 2, (c) => { // a container: name, image, ports, env
          string(c, 1, "main");
          string(c, 2, "registry.example/app:1");
          message(c, 6, (port) => {
            string(port, 1, "http");
            port.uint32(3 << 3).int32(8080);
            string(port, 4, "TCP");
          });
          for (let i = 0; i < (p.spec.env ?? 0); i++) {
            message(c, 7, (env) => {
              string(env, 1, `SETTING_${i}`);
              string(env, 2, `value-${i}`);
            });
          }
        });
        string(sp, 10, p.spec.nodeName ?? "");
        if (p.spec.hostNetwork !== undefined) sp.uint32(11 << 3).bool(p.spec.hostNetwork);
      });
      message(e, 3, (st) => {
        string(st, 1, p.status.phase ?? "Running");
        message(st, 2, (c) => {
          string(c, 1, "Ready");
          string(c, 2, "True");
        });
        string(st, 5, "192.0.2.10"); // hostIP
        if (p.status.podIP !== undefined) string(st, 6, p.status.podIP);
        for (const ip of p.status.podIPs ?? []) message(st, 12, (x) => string(x, 1, ip.ip));
      });
    });
  }
  return envelope("PodList", w.finish());
}

/** A v1 ServiceList page as the API server sends it in protobuf. */
export function encodeServiceList(
  services: ServiceJson[],
  meta: ListMetaJson = {},
): Uint8Array<ArrayBuffer> {
  const w = listWriter(meta);
  for (const s of services) {
    message(w, 2, (e) => {
      message(e, 1, (m) => objectMeta(m, s.metadata));
      message(e, 2, (sp) => serviceSpec(sp, s.spec));
      message(e, 3, () => {}); // status
    });
  }
  return envelope("ServiceList", w.finish());
}

export interface NodeJson {
  metadata: { name: string };
  spec: { podCIDR?: string; podCIDRs?: string[]; providerID?: string };
  /** How many container images its status lists: most of a real node's bytes. */
  images?: number;
}

/** A v1 NodeList page as the API server sends it in protobuf. */
export function encodeNodeList(
  nodes: NodeJson[],
  meta: ListMetaJson = {},
): Uint8Array<ArrayBuffer> {
  const w = listWriter(meta);
  for (const n of nodes) {
    message(w, 2, (e) => {
      message(e, 1, (m) => objectMeta(m, { namespace: "", name: n.metadata.name }));
      message(e, 2, (sp) => {
        string(sp, 1, n.spec.podCIDR ?? "");
        string(sp, 2, ""); // externalID
        string(sp, 3, n.spec.providerID ?? "");
        sp.uint32(4 << 3).bool(false); // unschedulable
        message(sp, 5, (t) => { // a taint
          string(t, 1, "node.kubernetes.io/unreachable");
          string(t, 3, "NoExecute");
        });
        for (const c of n.spec.podCIDRs ?? []) string(sp, 7, c);
      });
      message(e, 3, (st) => { // status: capacity, conditions, addresses, images
        map(st, 1, { cpu: "8", memory: "32Gi", pods: "110" });
        message(st, 4, (c) => {
          string(c, 1, "Ready");
          string(c, 2, "True");
        });
        message(st, 5, (a) => {
          string(a, 1, "InternalIP");
          string(a, 2, "192.0.2.10");
        });
        for (let i = 0; i < (n.images ?? 0); i++) {
          message(st, 8, (img) => {
            string(img, 1, `registry.example/team/image-${i}@sha256:${"f".repeat(64)}`);
            img.uint32(2 << 3).int64(123_456_789);
          });
        }
      });
    });
  }
  return envelope("NodeList", w.finish());
}

/** A metav1.Status with `message` (field 3), as an error body in protobuf. */
export function encodeStatus(msg: string, code = 403): Uint8Array<ArrayBuffer> {
  const w = pb.Writer.create();
  message(w, 1, () => {});
  string(w, 2, "Failure");
  string(w, 3, msg);
  string(w, 4, "Forbidden");
  w.uint32(6 << 3).int32(code);
  return envelope("Status", w.finish());
}

// ---------------------------------------------------------------------------------------------
// Fuzzing

function randomService(rng: Rng, i: number): ServiceJson {
  const kinds = ["ClusterIP", "ClusterIP", "NodePort", "ExternalName", "headless"];
  const kind = kinds[rng.int(kinds.length)];
  return {
    metadata: {
      namespace: `ns-${rng.int(5)}`,
      name: `svc-${i}`,
      annotations: { note: "z".repeat(rng.int(300)) },
    },
    spec: kind === "ExternalName" ? { type: "ExternalName", externalName: "example.test" } : {
      type: kind === "headless" ? "ClusterIP" : kind,
      clusterIP: kind === "headless" ? "None" : `10.96.${rng.int(256)}.${rng.int(256)}`,
      clusterIPs: kind === "headless" ? ["None"] : [`10.96.0.${rng.int(256)}`],
      selector: { app: `a${rng.int(9)}` },
      ports: Array.from({ length: rng.range(0, 3) }, (_, k) => ({
        name: k === 0 ? "" : `p${k}`,
        port: rng.range(1, 65535),
        targetPort: rng.int(2) ? `named-${k}` : rng.range(1, 65535),
      })),
    },
  };
}

function randomNode(rng: Rng, i: number): NodeJson {
  const v4 = `10.${rng.int(256)}.${rng.int(256)}.0/24`;
  const podCIDRs = [[], [v4], [v4, `fd00:${rng.int(65536).toString(16)}::/64`]][rng.int(3)];
  return {
    metadata: { name: `node-${i}` },
    spec: { podCIDR: podCIDRs[0], podCIDRs },
    images: rng.int(5),
  };
}

/** One kind of page the fuzzer makes and reads. */
const KINDS = [
  {
    encode: (rng: Rng, n: number, meta: ListMetaJson) =>
      encodeServiceList(Array.from({ length: n }, (_, i) => randomService(rng, i)), meta),
    decode: decodeServiceList,
  },
  {
    encode: (rng: Rng, n: number, meta: ListMetaJson) =>
      encodeNodeList(Array.from({ length: n }, (_, i) => randomNode(rng, i)), meta),
    decode: decodeNodeList,
  },
];

/** Runs `decode`: a failure unless it returns or throws ProtoDecodeError. */
function decodes(
  decode: (bytes: Uint8Array) => { items: unknown[] },
  input: Uint8Array,
): { ok: boolean; items?: number; error?: unknown } {
  try {
    return { ok: true, items: decode(input).items.length };
  } catch (e) {
    return { ok: false, error: e };
  }
}

/**
 * One iteration: a random valid page (of services or nodes), then every kind of damage to it. Properties: the valid page
 * decodes to all its items; a page cut anywhere inside the envelope's raw field fails; random
 * byte changes, insertions and random bytes after the magic either decode or throw
 * ProtoDecodeError, nothing else.
 */
export function protobufFuzzIteration(rng: Rng): PropertyFailure[] {
  const failures: PropertyFailure[] = [];
  const n = rng.range(0, 6);
  const kind = KINDS[rng.int(KINDS.length)];
  const valid = kind.encode(rng, n, { continue: rng.int(2) ? "token" : "" });
  const whole = decodes(kind.decode, valid);
  if (!whole.ok || whole.items !== n) {
    failures.push({ property: "valid page decodes", detail: String(whole.error), input: valid });
  }
  const check = (input: Uint8Array, what: string) => {
    const r = decodes(kind.decode, input);
    if (!r.ok && !(r.error instanceof ProtoDecodeError)) {
      failures.push({ property: "only ProtoDecodeError", detail: `${what}: ${r.error}`, input });
    }
    return r;
  };
  // Cut inside raw: the trailing contentEncoding and contentType fields take 4 bytes.
  const cut = rng.range(0, valid.length - 5);
  if (check(valid.subarray(0, cut), `cut at ${cut}`).ok) {
    failures.push({ property: "a cut page fails", detail: `cut at ${cut}`, input: valid });
  }
  const flipped = valid.slice();
  for (let k = rng.range(1, 4); k > 0; k--) flipped[rng.int(flipped.length)] = rng.int(256);
  check(flipped, "bytes changed");
  const at = rng.int(valid.length);
  const junk = Uint8Array.from({ length: rng.range(1, 8) }, () => rng.int(256));
  const inserted = new Uint8Array(valid.length + junk.length);
  inserted.set(valid.subarray(0, at));
  inserted.set(junk, at);
  inserted.set(valid.subarray(at), at + junk.length);
  check(inserted, "bytes inserted");
  const random = new Uint8Array(4 + rng.int(64));
  random.set([0x6b, 0x38, 0x73, 0x00]);
  for (let k = 4; k < random.length; k++) random[k] = rng.int(256);
  check(random, "random after the magic");
  return failures;
}

export function runProtobufFuzz(
  seed: number,
  iterations: number,
): { iterations: number; failures: PropertyFailure[] } {
  const rng = new Rng(seed);
  const failures: PropertyFailure[] = [];
  for (let i = 0; i < iterations; i++) failures.push(...protobufFuzzIteration(rng));
  return { iterations, failures };
}
