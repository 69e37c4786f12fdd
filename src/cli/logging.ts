/**
 * Console logging in kt-connect's style, `4:31PM INF message`, through LogTape. INF and DBG go to
 * stdout with the banner; WRN and ERR to stderr, so scripts can tell trouble apart.
 * @module
 */
import { configure, type LogLevel, type LogRecord, reset } from "@logtape/logtape";

const LEVELS: Record<LogLevel, string> = {
  trace: "TRC",
  debug: "DBG",
  info: "INF",
  warning: "WRN",
  error: "ERR",
  fatal: "FTL",
};

/** `4:31PM`, the clock a developer glances at; dates add nothing to a console session. */
export function formatClock(date: Date): string {
  const h = date.getHours();
  const m = date.getMinutes().toString().padStart(2, "0");
  return `${h % 12 === 0 ? 12 : h % 12}:${m}${h < 12 ? "AM" : "PM"}`;
}

/** Renders a record as one line. Values that are not strings are shown as JSON. */
export function formatRecord(record: LogRecord): string {
  const text = record.message.map((part, i) => i % 2 === 0 ? String(part) : renderValue(part))
    .join("");
  return `${formatClock(new Date(record.timestamp))} ${LEVELS[record.level]} ${text}\n`;
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value); // BigInt, cycles
  }
}

const encoder = new TextEncoder();

/**
 * Sets up logging for the process; `debug` adds DBG lines. `allToStderr` keeps stdout for a
 * command ktctl runs (`connect -- COMMAND`), whose output may be piped.
 */
export async function setupLogging(debug: boolean, allToStderr = false): Promise<void> {
  await reset();
  await configure({
    sinks: {
      console: (record: LogRecord) => {
        const out = allToStderr || record.level === "warning" || record.level === "error" ||
            record.level === "fatal"
          ? Deno.stderr
          : Deno.stdout;
        const bytes = encoder.encode(formatRecord(record));
        for (let off = 0; off < bytes.length;) off += out.writeSync(bytes.subarray(off));
      },
    },
    loggers: [
      { category: ["ktctl"], lowestLevel: debug ? "debug" : "info", sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}
