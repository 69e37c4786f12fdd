/**
 * src/os/kernel32.ts: the one kernel32 binding. Windows keeps one module per DLL, but each
 * `Deno.dlopen` is its own symbol table and handle; two bindings drift apart (issue 22), so every
 * module that needs kernel32 takes it from here.
 */
import assert from "node:assert/strict";
import { baseName, KERNEL32_SYMBOLS } from "../../../src/os/kernel32.ts";

Deno.test("kernel32: only src/os/kernel32.ts opens kernel32.dll", async () => {
  const openers: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (
        path.endsWith(".ts") && /dlopen\(\s*["']kernel32/i.test(await Deno.readTextFile(path))
      ) {
        openers.push(path);
      }
    }
  };
  await walk(new URL("../../../src", import.meta.url).pathname.replace(/\/$/, ""));
  assert.deepEqual(openers.map((p) => p.slice(p.indexOf("/src/") + 1)), ["src/os/kernel32.ts"]);
  // What the peer check and the system-proxy side call is all declared there.
  for (
    const name of [
      "OpenProcess",
      "CloseHandle",
      "GetCurrentProcess",
      "QueryFullProcessImageNameW",
      "K32EnumProcesses",
      "GetProcessTimes",
      "SetConsoleCtrlHandler",
    ]
  ) assert.ok(name in KERNEL32_SYMBOLS, name);
});

Deno.test("kernel32: an image path's file name", () => {
  assert.equal(baseName("C:\\Program Files\\Google\\Chrome\\chrome.exe"), "chrome.exe");
  assert.equal(baseName("Z:/usr/bin/deno.exe"), "deno.exe");
  assert.equal(baseName("curl.exe"), "curl.exe");
});
