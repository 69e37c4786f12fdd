/**
 * Start-up failures of the Kubernetes API in words a user can act on, and the one permission
 * check ktctl makes before serving (port-forwarding is what every cluster connection needs).
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ApiError, type KubeApi } from "../kube/api.ts";
import { UserError } from "../errors.ts";

const log = getLogger(["ktctl", "connect"]);

/** Turns API failures at start-up into one line that says what to fix. */
export function explainApiError(
  e: unknown,
  t: { context: string; server: string; namespace: string },
): unknown {
  if (!(e instanceof ApiError)) return e;
  switch (e.kind) {
    case "unreachable":
      return new UserError(
        `${e.message} (context "${t.context}"): is the cluster running, and is the server address in kubeconfig right?`,
      );
    case "unauthorized":
      return new UserError(
        `the API server at ${t.server} rejected the credentials of context "${t.context}" (${e.message}): log in again or renew the token or certificate in kubeconfig`,
      );
    case "forbidden":
      return new UserError(
        `context "${t.context}" may not read pods and services in namespace ${t.namespace} (${e.message}): ktctl needs get/list/watch on pods, services and endpointslices, and create on pods/portforward`,
      );
    default:
      return new UserError(`reading the cluster failed: ${e.message}`);
  }
}

/**
 * Whether this user may port-forward to pods in `namespace` (`""`: all), by a
 * SelfSubjectAccessReview; undefined when the API server cannot say (an old server, no review API).
 */
export async function mayPortForward(
  api: Pick<KubeApi, "post">,
  namespace: string,
): Promise<boolean | undefined> {
  try {
    const review = await api.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: {
        resourceAttributes: {
          namespace,
          verb: "create",
          resource: "pods",
          subresource: "portforward",
        },
      },
    }) as { status?: { allowed?: boolean } };
    return review.status?.allowed;
  } catch (e) {
    log.debug("Could not check the port-forward permission: {error}", { error: String(e) });
    return undefined;
  }
}

/** Warns when the user may not port-forward: every cluster connection would then be refused. */
export async function warnIfNoPortForward(api: KubeApi, namespace: string): Promise<void> {
  if (await mayPortForward(api, namespace) === false) {
    log.warn(
      "This user may not port-forward to pods{where}: connections into the cluster will be refused",
      { where: namespace ? ` in namespace ${namespace}` : "" },
    );
  }
}
