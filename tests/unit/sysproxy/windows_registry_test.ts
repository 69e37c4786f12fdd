import assert from "node:assert/strict";
import { ExecutableNotFoundError } from "../../../src/sysproxy/command_runner.ts";
import {
  deleteValue,
  parseRegQuery,
  queryValue,
  RegistryError,
  sameValue,
  setUserEnv,
  setValue,
} from "../../../src/sysproxy/windows_registry.ts";
import { accessDenied, ENV, INET, ok, RecordingRunner } from "./fakes.ts";

// Outputs as reg.exe prints them (format from Windows and Wine's reg tests).
const DWORD_OUTPUT = "\r\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\" +
  "Internet Settings\r\n    ProxyEnable    REG_DWORD    0x1\r\n\r\n";
const SZ_OUTPUT = "\r\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\" +
  "Internet Settings\r\n    ProxyOverride    REG_SZ    *.corp.example; 10.*;<local>\r\n\r\n";

Deno.test("parseRegQuery reads a REG_DWORD shown in hex", () => {
  assert.deepEqual(parseRegQuery(DWORD_OUTPUT, "ProxyEnable"), { type: "REG_DWORD", data: 1 });
  assert.deepEqual(
    parseRegQuery(DWORD_OUTPUT.replace("0x1", "0xabc"), "ProxyEnable"),
    { type: "REG_DWORD", data: 0xabc },
  );
});

Deno.test("parseRegQuery keeps spaces inside REG_SZ data and drops the CR", () => {
  assert.deepEqual(parseRegQuery(SZ_OUTPUT, "ProxyOverride"), {
    type: "REG_SZ",
    data: "*.corp.example; 10.*;<local>",
  });
});

Deno.test("parseRegQuery accepts LF-only output and another case of the name", () => {
  const output = "\nHKEY_CURRENT_USER\\Environment\n    HTTP_PROXY    REG_EXPAND_SZ    " +
    "http://%PROXY_HOST%:8080\n\n";
  assert.deepEqual(parseRegQuery(output, "http_proxy"), {
    type: "REG_EXPAND_SZ",
    data: "http://%PROXY_HOST%:8080",
  });
});

Deno.test("parseRegQuery reads empty REG_SZ data with or without trailing separator", () => {
  for (const line of ["    ProxyServer    REG_SZ    ", "    ProxyServer    REG_SZ"]) {
    const output = `\r\nHKEY_CURRENT_USER\\X\r\n${line}\r\n\r\n`;
    assert.deepEqual(parseRegQuery(output, "ProxyServer"), { type: "REG_SZ", data: "" });
  }
});

Deno.test("parseRegQuery does not mistake the key line or a longer name for the value", () => {
  const output = "\r\nHKEY_CURRENT_USER\\ProxyServer    REG_SZ    no\r\n" +
    "    ProxyServerX    REG_SZ    wrong\r\n    ProxyServer    REG_SZ    right\r\n\r\n";
  assert.deepEqual(parseRegQuery(output, "ProxyServer"), { type: "REG_SZ", data: "right" });
});

Deno.test("parseRegQuery refuses types it would not restore exactly, and lost characters", () => {
  const binary = "\r\nHKEY_CURRENT_USER\\X\r\n    ProxyServer    REG_BINARY    0102\r\n";
  assert.throws(() => parseRegQuery(binary, "ProxyServer"), RegistryError);
  const lost = "\r\nHKEY_CURRENT_USER\\X\r\n    ProxyOverride    REG_SZ    *.\uFFFD\uFFFD\r\n";
  assert.throws(() => parseRegQuery(lost, "ProxyOverride"), /cannot carry/);
  assert.throws(() => parseRegQuery("\r\nHKEY_CURRENT_USER\\X\r\n", "ProxyServer"), /could not/);
});

Deno.test("queryValue runs reg query with exact argv; exit 1 means missing", async () => {
  const runner = new RecordingRunner((_, args) =>
    args[3] === "ProxyEnable" ? ok(DWORD_OUTPUT) : {
      code: 1,
      stdout: "",
      stderr: "whatever the locale says",
    }
  );
  assert.deepEqual(await queryValue(runner, INET, "ProxyEnable"), { type: "REG_DWORD", data: 1 });
  assert.equal(await queryValue(runner, ENV, "http_proxy"), null);
  assert.deepEqual(runner.calls, [
    ["reg", "query", INET, "/v", "ProxyEnable"],
    ["reg", "query", ENV, "/v", "http_proxy"],
  ]);
});

Deno.test("queryValue reports other exit codes with the command line", async () => {
  const runner = new RecordingRunner(() => ({ code: 5, stdout: "", stderr: "ERROR: boom\r\n" }));
  await assert.rejects(
    queryValue(runner, ENV, "http_proxy"),
    (error: Error) =>
      error instanceof RegistryError &&
      error.message === `reg query ${ENV} /v http_proxy failed with exit code 5: ERROR: boom`,
  );
});

Deno.test("setValue writes the exact type, DWORDs in decimal, always with /f", async () => {
  const runner = new RecordingRunner(() => ok());
  await setValue(runner, INET, "ProxyEnable", { type: "REG_DWORD", data: 1 });
  await setValue(runner, ENV, "http_proxy", { type: "REG_EXPAND_SZ", data: "a b;%X%" });
  assert.deepEqual(runner.calls, [
    ["reg", "add", INET, "/v", "ProxyEnable", "/t", "REG_DWORD", "/d", "1", "/f"],
    ["reg", "add", ENV, "/v", "http_proxy", "/t", "REG_EXPAND_SZ", "/d", "a b;%X%", "/f"],
  ]);
});

Deno.test("deleteValue and setUserEnv use reg delete /f and setx NAME VALUE", async () => {
  const runner = new RecordingRunner(() => ok());
  await deleteValue(runner, ENV, "http_proxy");
  await setUserEnv(runner, "http_proxy", "socks4a://127.0.0.1:2223");
  assert.deepEqual(runner.calls, [
    ["reg", "delete", ENV, "/v", "http_proxy", "/f"],
    ["setx", "http_proxy", "socks4a://127.0.0.1:2223"],
  ]);
});

Deno.test("a failing reg add or setx rejects; a missing reg.exe stays recognisable", async () => {
  const denied = new RecordingRunner(() => accessDenied);
  await assert.rejects(setValue(denied, INET, "ProxyEnable", { type: "REG_DWORD", data: 1 }), {
    name: "RegistryError",
    message: /exit code 1: ERROR: Access is denied\./,
  });
  await assert.rejects(setUserEnv(denied, "http_proxy", "x"), /^RegistryError: setx http_proxy x/);
  const missing = new RecordingRunner((cmd) => {
    throw new ExecutableNotFoundError(cmd);
  });
  await assert.rejects(queryValue(missing, ENV, "http_proxy"), ExecutableNotFoundError);
});

Deno.test("sameValue treats REG_SZ and REG_EXPAND_SZ alike but not DWORDs or absence", () => {
  assert.ok(sameValue({ type: "REG_SZ", data: "a" }, { type: "REG_EXPAND_SZ", data: "a" }));
  assert.ok(!sameValue({ type: "REG_SZ", data: "1" }, { type: "REG_DWORD", data: 1 }));
  assert.ok(!sameValue(null, { type: "REG_SZ", data: "" }));
  assert.ok(sameValue(null, null));
});
