import assert from "node:assert/strict";
import {
  formatState,
  isStateFileName,
  joinPath,
  parseState,
  STATE_FORMAT,
  stateDir,
  stateFileName,
  type StateRecord,
} from "../../../src/sysproxy/state_file.ts";

const record: StateRecord = {
  format: STATE_FORMAT,
  version: 1,
  pid: 4242,
  processStart: "started:133589000000000000",
  address: "127.0.0.1",
  port: 2223,
  method: "socks",
  createdAt: "2024-05-01T09:30:00.000Z",
  values: [
    {
      key: "HKCU\\Environment",
      name: "http_proxy",
      previous: null,
      set: { type: "REG_SZ", data: "socks4a://127.0.0.1:2223" },
    },
    {
      key: "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings",
      name: "ProxyEnable",
      previous: { type: "REG_DWORD", data: 0 },
      set: { type: "REG_DWORD", data: 1 },
    },
  ],
};

Deno.test("a state record survives formatting and parsing unchanged", () => {
  assert.deepEqual(parseState(formatState(record)), { kind: "ok", record });
});

Deno.test("state file location and names (':' is not allowed in Windows file names)", () => {
  assert.equal(stateDir("C:\\Users\\dev\\", "windows"), "C:\\Users\\dev\\.ktctl");
  assert.equal(stateDir("/home/dev", "linux"), "/home/dev/.ktctl");
  assert.equal(joinPath("windows", "C:\\a", "b.json"), "C:\\a\\b.json");
  assert.equal(stateFileName("127.0.0.1", 2223), "connect-127.0.0.1-2223.json");
  assert.equal(stateFileName("::1", 2223), "connect-__1-2223.json");
  assert.ok(isStateFileName("connect-__1-2223.json"));
  assert.ok(!isStateFileName("connect-127.0.0.1-2223.json.77.tmp"));
  assert.ok(!isStateFileName("shadow-123.pid"));
});

Deno.test("garbage and other JSON files are corrupt, with a reason", () => {
  assert.equal(parseState("{not json").kind, "corrupt");
  assert.deepEqual(parseState('{"pid": 1}'), {
    kind: "corrupt",
    reason: "not a ktctl connect state file",
  });
  assert.deepEqual(parseState("[]"), { kind: "corrupt", reason: "not a ktctl connect state file" });
});

Deno.test("a state file of another format version is foreign", () => {
  const text = JSON.stringify({ ...record, version: 3, values: "new shape" });
  assert.deepEqual(parseState(text), { kind: "foreign", version: 3 });
});

Deno.test("damaged fields make a state file corrupt instead of being trusted", () => {
  const broken = (patch: Record<string, unknown>) =>
    parseState(JSON.stringify({ ...record, ...patch }));
  assert.deepEqual(broken({ pid: "4242" }), { kind: "corrupt", reason: "bad pid" });
  assert.deepEqual(broken({ port: null }), { kind: "corrupt", reason: "bad port" });
  assert.deepEqual(broken({ method: "https" }), { kind: "corrupt", reason: "bad method" });
  const badValue = { ...record.values[1], previous: { type: "REG_DWORD", data: "0" } };
  assert.deepEqual(broken({ values: [record.values[0], badValue] }), {
    kind: "corrupt",
    reason: "bad value #2",
  });
  const binary = { ...record.values[0], set: { type: "REG_BINARY", data: "00" } };
  assert.deepEqual(broken({ values: [binary] }), { kind: "corrupt", reason: "bad value #1" });
});
