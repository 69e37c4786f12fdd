/**
 * The few path operations ktctl needs (join, dirname, isAbsolute, the list delimiter), for POSIX
 * and Windows, with node:path's results: tests/unit/os/path_test.ts checks them against node:path
 * over generated paths. Windows device paths (`\\.\x`) and reserved names (`CON`) are left as they
 * are rather than rewritten as node:path does; no kubeconfig names them. Written here because
 * `@std/path` is not on the npm registry, and importing `node:path` loads Deno's Node
 * compatibility layer on `connect`'s start path: ~5 MB and ~10 ms on its own, ~14 MB and ~35 ms
 * with the other `node:` modules (docs/performance-startup.md).
 * @module
 */

/** One platform's path rules. */
export interface PathApi {
  /** The separator this platform writes. */
  readonly sep: string;
  /** What separates paths in a list such as `$KUBECONFIG`. */
  readonly delimiter: string;
  isAbsolute(path: string): boolean;
  /** The parts joined with the separator, `.` and `..` resolved, as node:path's `join`. */
  join(...parts: string[]): string;
  /** The folder part, as node:path's `dirname`. */
  dirname(path: string): string;
}

/** `..` above the start is kept for relative paths and dropped at a root. */
function resolveDots(segments: string[], keepAboveStart: boolean): string[] {
  const out: string[] = [];
  for (const s of segments) {
    if (s === "" || s === ".") continue;
    if (s !== "..") out.push(s);
    else if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (keepAboveStart) out.push("..");
  }
  return out;
}

function posixNormalize(path: string): string {
  if (path === "") return ".";
  const absolute = path.startsWith("/");
  const trailing = path.endsWith("/");
  let tail = resolveDots(path.split("/"), !absolute).join("/");
  if (tail === "" && !absolute) tail = ".";
  if (tail !== "" && trailing) tail += "/";
  return absolute ? `/${tail}` : tail;
}

export const posix: PathApi = {
  sep: "/",
  delimiter: ":",
  isAbsolute: (path) => path.startsWith("/"),
  join(...parts) {
    const given = parts.filter((p) => p.length > 0);
    return given.length === 0 ? "." : posixNormalize(given.join("/"));
  },
  dirname(path) {
    if (path === "") return ".";
    if (/^\/\/[^/]+\/*$/.test(path) && !path.startsWith("///")) return "//";
    return dirnameAfter(path, path.startsWith("/") ? 1 : 0, (c) => c === "/");
  },
};

const isWinSep = (c: string | undefined) => c === "/" || c === "\\";

/** A path's folder part: everything before the separator that precedes its last name. */
function dirnameAfter(path: string, rootEnd: number, isSep: (c: string) => boolean): string {
  let end = path.length;
  while (end > rootEnd && isSep(path[end - 1])) end--; // trailing separators
  while (end > rootEnd && !isSep(path[end - 1])) end--; // the last name
  if (end <= rootEnd) return rootEnd > 0 ? path.slice(0, rootEnd) : ".";
  return path.slice(0, end - 1) || path.slice(0, 1);
}

/**
 * A Windows path's root: `device` (`C:` or `\\server\share`), whether it is absolute, and where
 * the rest starts (after the root's separator). `\\server` without a share is a path under `\`.
 */
function winRoot(path: string): { device: string; absolute: boolean; rootEnd: number } {
  if (isWinSep(path[0])) {
    const unc = /^[\\/]{2}([^\\/]+)[\\/]+([^\\/]+)/.exec(path);
    if (unc) return { device: `\\\\${unc[1]}\\${unc[2]}`, absolute: true, rootEnd: unc[0].length };
    return { device: "", absolute: true, rootEnd: 1 };
  }
  if (/^[A-Za-z]:/.test(path)) {
    const absolute = isWinSep(path[2]);
    return { device: path.slice(0, 2), absolute, rootEnd: absolute ? 3 : 2 };
  }
  return { device: "", absolute: false, rootEnd: 0 };
}

function winNormalize(path: string): string {
  if (path === "") return ".";
  const root = winRoot(path);
  let tail = resolveDots(path.slice(root.rootEnd).split(/[\\/]/), !root.absolute).join("\\");
  if (tail === "" && !root.absolute) tail = ".";
  if (tail !== "" && isWinSep(path[path.length - 1])) tail += "\\";
  // A relative path that could read as a drive once normalized (`a\..\x:y`, or a name ending in
  // a colon) gets `.\` first, as node:path does.
  if (
    !root.absolute && root.device === "" && (/^[A-Za-z]:/.test(tail) || /:(?:$|[\\/])/.test(path))
  ) {
    tail = `.\\${tail}`;
  }
  if (root.device.startsWith("\\\\")) return `${root.device}\\${tail}`;
  return root.device + (root.absolute ? "\\" : "") + tail;
}

export const win32: PathApi = {
  sep: "\\",
  delimiter: ";",
  isAbsolute(path) {
    return isWinSep(path[0]) || /^[A-Za-z]:[\\/]/.test(path);
  },
  join(...parts) {
    const given = parts.filter((p) => p.length > 0);
    if (given.length === 0) return ".";
    const joined = given.join("\\");
    // Only a first part that is itself `\\server...` starts a UNC path; separators that meet
    // across parts (`\` + `\x`) become one.
    const unc = /^[\\/]{2}[^\\/]/.test(given[0]);
    return winNormalize(unc ? joined : joined.replace(/^[\\/]{2,}/, "\\"));
  },
  dirname(path) {
    if (path === "") return ".";
    const root = winRoot(path);
    if (root.device.startsWith("\\\\")) {
      // `\\server\share` alone is its own folder; its root ends after the separator that follows.
      return root.rootEnd === path.length ? path : dirnameAfter(path, root.rootEnd + 1, isWinSep);
    }
    return dirnameAfter(path, root.rootEnd, isWinSep);
  },
};

/** This machine's rules. */
export const path: PathApi = Deno.build.os === "windows" ? win32 : posix;
