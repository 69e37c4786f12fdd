import assert from "node:assert/strict";
import {
  decodeRegData,
  encodeRegData,
  RegistryError,
  type RegValue,
  sameValue,
} from "../../../src/os/windows_registry.ts";
import { wide } from "../../../src/os/utf16.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

Deno.test("encodeRegData: REG_SZ is UTF-16LE code units plus one NUL, byte for byte", () => {
  assert.deepEqual(encodeRegData({ type: "REG_SZ", data: "a内" }), {
    type: 1,
    bytes: bytes(0x61, 0x00, 0x85, 0x51, 0x00, 0x00),
  });
  // Outside the BMP: the surrogate pair as stored by Windows; a lone surrogate survives too.
  assert.deepEqual(
    encodeRegData({ type: "REG_EXPAND_SZ", data: "🚀\ud800" }).bytes,
    bytes(
      0x3d,
      0xd8,
      0x80,
      0xde,
      0x00,
      0xd8,
      0x00,
      0x00,
    ),
  );
  assert.equal(encodeRegData({ type: "REG_EXPAND_SZ", data: "" }).type, 2);
  assert.deepEqual(encodeRegData({ type: "REG_SZ", data: "" }).bytes, bytes(0, 0));
});

Deno.test("encodeRegData: REG_DWORD is four little-endian bytes", () => {
  assert.deepEqual(encodeRegData({ type: "REG_DWORD", data: 0x01020304 }), {
    type: 4,
    bytes: bytes(4, 3, 2, 1),
  });
  assert.deepEqual(
    encodeRegData({ type: "REG_DWORD", data: 0xffffffff }).bytes,
    bytes(
      255,
      255,
      255,
      255,
    ),
  );
});

Deno.test("decodeRegData round-trips every string exactly: Chinese, accents, emoji, surrogates", () => {
  const values: RegValue[] = [
    { type: "REG_SZ", data: "*.内网.公司;<local>" },
    { type: "REG_SZ", data: "http://café-ñandú.example:3128" },
    { type: "REG_EXPAND_SZ", data: "http://%USERNAME%.代理:8080 नमस्ते 🚀" },
    { type: "REG_SZ", data: "\ud800 lone \udfff" },
    { type: "REG_SZ", data: "" },
    { type: "REG_DWORD", data: 0 },
    { type: "REG_DWORD", data: 4294967295 },
  ];
  for (const value of values) {
    const { type, bytes } = encodeRegData(value);
    assert.deepEqual(decodeRegData("x", type, bytes), value);
  }
});

Deno.test("decodeRegData drops exactly one terminating NUL, and keeps a value stored without", () => {
  assert.deepEqual(decodeRegData("x", 1, bytes(0x61, 0, 0, 0, 0, 0)), {
    type: "REG_SZ",
    data: "a\0",
  });
  assert.deepEqual(decodeRegData("x", 1, bytes(0x61, 0, 0x62, 0)), { type: "REG_SZ", data: "ab" });
  assert.deepEqual(decodeRegData("x", 1, bytes()), { type: "REG_SZ", data: "" });
});

Deno.test("decodeRegData refuses types and shapes it would not restore exactly", () => {
  assert.throws(() => decodeRegData("ProxyServer", 3, bytes(1, 2)), /registry type 3/);
  assert.throws(() => decodeRegData("ProxyServer", 7, bytes(0, 0, 0, 0)), RegistryError);
  assert.throws(() => decodeRegData("ProxyEnable", 4, bytes(1, 0)), RegistryError);
  assert.throws(() => decodeRegData("ProxyServer", 1, bytes(0x61)), RegistryError);
});

Deno.test("wide() gives the NUL-terminated UTF-16LE that the W functions take", () => {
  assert.deepEqual(
    wide("Environment 环境"),
    encodeRegData({
      type: "REG_SZ",
      data: "Environment 环境",
    }).bytes,
  );
});

Deno.test("sameValue: same data counts, REG_SZ vs REG_EXPAND_SZ does not matter, DWORD does", () => {
  assert.ok(sameValue({ type: "REG_SZ", data: "a" }, { type: "REG_EXPAND_SZ", data: "a" }));
  assert.ok(!sameValue({ type: "REG_SZ", data: "1" }, { type: "REG_DWORD", data: 1 }));
  assert.ok(sameValue(null, null));
  assert.ok(!sameValue(null, { type: "REG_SZ", data: "" }));
});
