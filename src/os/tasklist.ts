/**
 * Reading `tasklist /FI "PID eq <pid>" /FO CSV /NH` output. sysproxy no longer asks tasklist
 * anything (process identity comes from GetProcessTimes), but the CLI's shell detection reads
 * the parent's image name this way.
 *
 * @module
 */

/** Splits one CSV line (`"a","b"` from Windows, bare `a,b` from Wine's old tasklist). */
function csvFields(line: string): string[] {
  const trimmed = line.trim();
  if (!trimmed.startsWith('"')) return trimmed.split(",").map((field) => field.trim());
  return [...trimmed.matchAll(/"((?:[^"]|"")*)"/g)].map((match) => match[1].replaceAll('""', '"'));
}

/**
 * The image name of `pid` in `tasklist /FI "PID eq <pid>" /FO CSV /NH` output, or `undefined`
 * when no row has that pid (Windows then prints an INFO line, whose text is not relied on).
 */
export function parseTasklist(stdout: string, pid: number): string | undefined {
  for (const line of stdout.split(/\r?\n/)) {
    const [image, rowPid] = csvFields(line);
    if (image && rowPid === String(pid)) return image;
  }
  return undefined;
}
