/**
 * testenv/cluster/extra_apiserver.ts: the extra API server's command line is the shared one's with
 * another port and the given flags in place of flags of the same name.
 */
import assert from "node:assert/strict";
import { extraArgv } from "../../../testenv/cluster/extra_apiserver.ts";

Deno.test("extra_apiserver: another port, the given flags replacing the shared ones", () => {
  const shared = [
    "/bin/kube-apiserver",
    "--etcd-servers=http://127.0.0.1:2379",
    "--secure-port=32764",
    "--client-ca-file",
    "/pki/ca.crt",
    "--authorization-mode=Node,RBAC",
  ];
  assert.deepEqual(
    extraArgv(shared, 40000, [
      "--client-ca-file=/tmp/bundle.crt",
      "--authentication-token-webhook-version=v1",
    ]),
    [
      "/bin/kube-apiserver",
      "--etcd-servers=http://127.0.0.1:2379",
      "--authorization-mode=Node,RBAC",
      "--secure-port=40000",
      "--client-ca-file=/tmp/bundle.crt",
      "--authentication-token-webhook-version=v1",
    ],
  );
});
