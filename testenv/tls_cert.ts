/**
 * A throwaway self-signed certificate for 127.0.0.1, made with the `openssl` command (Deno and
 * node:crypto can make keys but not certificates).
 * @module
 */

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl: ${new TextDecoder().decode(out.stderr)}`);
}

/** A self-signed certificate `dir/name.pem` with its key `dir/name.key`. */
async function selfSignedIn(dir: string, name: string, subject: string, ...extra: string[]) {
  await openssl(
    "req",
    "-x509",
    ...EC_KEY,
    "-days",
    "1",
    "-subj",
    subject,
    ...extra,
    "-keyout",
    `${dir}/${name}.key`,
    "-out",
    `${dir}/${name}.pem`,
  );
}

export async function selfSignedCert(): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-cert-" });
  try {
    await selfSignedIn(dir, "cert", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1");
    return {
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/cert.key`),
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
  try {
    await selfSignedIn(dir, "ca", "/CN=ktctl-test-ca");
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
        ...EC_KEY,
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
