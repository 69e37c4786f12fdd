/**
 * The PostgreSQL JDBC driver from Maven Central (`org.postgresql:postgresql`), fetched once with
 * `mvn dependency:get` and cached under ~/.cache/ktctl/jdbc, and a one-file Java program that
 * runs one query through it (Java 11+ runs a source file directly).
 * @module
 */

export const JDBC_VERSION = "42.7.4";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The driver jar, or why there is none. */
export async function jdbcJar(): Promise<{ path: string } | { missing: string }> {
  const home = Deno.env.get("HOME") ?? "";
  const cache = Deno.env.get("KTCTL_CACHE") || `${home}/.cache/ktctl`;
  const path = `${cache}/jdbc/postgresql-${JDBC_VERSION}.jar`;
  if (await exists(path)) return { path };
  const m2 =
    `${home}/.m2/repository/org/postgresql/postgresql/${JDBC_VERSION}/postgresql-${JDBC_VERSION}.jar`;
  if (!(await exists(m2))) {
    const r = await new Deno.Command("mvn", {
      args: ["-q", "dependency:get", `-Dartifact=org.postgresql:postgresql:${JDBC_VERSION}`],
      stdout: "piped",
      stderr: "piped",
    }).output().catch((e) => ({ code: -1, stdout: new Uint8Array(), stderr: String(e) }));
    if (r.code !== 0 || !(await exists(m2))) {
      return { missing: `mvn dependency:get org.postgresql:postgresql:${JDBC_VERSION} failed` };
    }
  }
  await Deno.mkdir(`${cache}/jdbc`, { recursive: true });
  await Deno.copyFile(m2, path);
  return { path };
}

/** `java -cp <jar> JdbcQuery.java <url> <sql>` prints `result=<first column>`. */
export const JDBC_QUERY_SOURCE = `
import java.sql.*;

public class JdbcQuery {
  public static void main(String[] args) throws Exception {
    try (Connection c = DriverManager.getConnection(args[0], "postgres", "");
         Statement s = c.createStatement();
         ResultSet r = s.executeQuery(args[1])) {
      r.next();
      System.out.println("result=" + r.getString(1));
    }
  }
}
`;
