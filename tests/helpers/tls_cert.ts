/**
 * A throwaway self-signed certificate for 127.0.0.1, made with the `openssl` command (Deno and
 * node:crypto can make keys but not certificates).
 * @module
 */

export async function selfSignedCert(): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-cert-" });
  try {
    const out = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`openssl: ${new TextDecoder().decode(out.stderr)}`);
    return {
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/key.pem`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export interface CertChain {
  /** The CA that signed both certificates (PEM). */
  ca: string;
  /** A server certificate (not a CA) for 127.0.0.1 and `kubernetes.test`, with its key. */
  server: { cert: string; key: string };
  /** A client certificate for `CN=ktctl-test`, with its key. */
  client: { cert: string; key: string };
}

/** A CA and a server and a client certificate it signed, as a real cluster's PKI has them. */
export async function certChain(): Promise<CertChain> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-pki-" });
  const openssl = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
      .output();
    if (!out.success) throw new Error(`openssl: ${new TextDecoder().decode(out.stderr)}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    await openssl(
      "req",
      "-x509",
      ...ec,
      "-days",
      "1",
      "-subj",
      "/CN=ktctl-test-ca",
      "-keyout",
      `${dir}/ca.key`,
      "-out",
      `${dir}/ca.pem`,
    );
    for (
      const [name, subj, ext] of [
        [
          "server",
          "/CN=kube-apiserver",
          "subjectAltName=IP:127.0.0.1,DNS:kubernetes.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth",
        ],
        ["client", "/CN=ktctl-test", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth"],
      ]
    ) {
      await Deno.writeTextFile(`${dir}/${name}.ext`, ext + "\n");
      await openssl(
        "req",
        ...ec,
        "-subj",
        subj,
        "-keyout",
        `${dir}/${name}.key`,
        "-out",
        `${dir}/${name}.csr`,
      );
      await openssl(
        "x509",
        "-req",
        "-in",
        `${dir}/${name}.csr`,
        "-CA",
        `${dir}/ca.pem`,
        "-CAkey",
        `${dir}/ca.key`,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        `${dir}/${name}.ext`,
        "-out",
        `${dir}/${name}.pem`,
      );
    }
    const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
    return {
      ca: await read("ca.pem"),
      server: { cert: await read("server.pem"), key: await read("server.key") },
      client: { cert: await read("client.pem"), key: await read("client.key") },
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
