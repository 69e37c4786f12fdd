/**
 * Host names as both fronts receive them (SOCKS4a/5 names, HTTP request targets): one rule for
 * what counts as a name, so the two protocols cannot disagree about where a name goes.
 * @module
 */

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Lower-cases a hostname, drops one trailing dot, and checks it is made of DNS labels. A client
 * may also send an IP literal as a "hostname"; those are accepted as they are.
 */
export function normalizeHostname(raw: string): string | undefined {
  let name = raw.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (name.length === 0 || name.length > 253) return undefined;
  if (/^[0-9a-f:.]+$/.test(name) && name.includes(":")) return name; // IPv6 literal
  if (name.startsWith("[") && name.endsWith("]")) return normalizeHostname(name.slice(1, -1));
  return name.split(".").every((label) => LABEL.test(label)) ? name : undefined;
}
