/**
 * The one kernel32 binding (Deno FFI), opened on first use so other platforms never open a DLL.
 * Both the system-proxy side (`win32.ts`: process identity, the console-close handler) and the
 * peer-owner check (`peer/owner_windows.ts`: opening the client's process, its image name) use
 * it; add a symbol here rather than opening kernel32 a second time.
 * @module
 */

export const KERNEL32_SYMBOLS = {
  K32EnumProcesses: { parameters: ["buffer", "u32", "buffer"], result: "i32" },
  OpenProcess: { parameters: ["u32", "i32", "u32"], result: "pointer" },
  GetCurrentProcess: { parameters: [], result: "pointer" },
  GetExitCodeProcess: { parameters: ["pointer", "buffer"], result: "i32" },
  GetProcessTimes: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  QueryFullProcessImageNameW: {
    parameters: ["pointer", "u32", "buffer", "buffer"],
    result: "i32",
  },
  CloseHandle: { parameters: ["pointer"], result: "i32" },
  SetConsoleCtrlHandler: { parameters: ["function", "i32"], result: "i32" },
  GetLastError: { parameters: [], result: "u32" },
  GlobalFree: { parameters: ["pointer"], result: "pointer" },
} as const;

export type Kernel32 = Deno.DynamicLibrary<typeof KERNEL32_SYMBOLS>;

export const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;

let opened: Kernel32 | undefined;

/** kernel32.dll, opened once per process. */
export function openKernel32(): Kernel32 {
  return opened ??= Deno.dlopen("kernel32.dll", KERNEL32_SYMBOLS);
}

/**
 * The executable's file name (`chrome.exe`) of an open process handle (one opened with at least
 * PROCESS_QUERY_LIMITED_INFORMATION); undefined when Windows will not say.
 */
export function processImageName(process: Deno.PointerValue): string | undefined {
  const chars = 1024;
  const buf = new Uint16Array(chars);
  const size = new Uint32Array([chars]);
  const ok = openKernel32().symbols.QueryFullProcessImageNameW(
    process,
    0,
    new Uint8Array(buf.buffer),
    new Uint8Array(size.buffer),
  );
  if (!ok || size[0] > chars) return undefined;
  return baseName(String.fromCharCode(...buf.subarray(0, size[0])));
}

/** The last component of a Windows path. */
export function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf("\\"), path.lastIndexOf("/")) + 1);
}
