/**
 * Runs the real ktctl CLI with any arguments (`forward ...`, `connect ... -- COMMAND`), its
 * output collected as it comes, so a test can wait for a line, signal it, and read its exit code.
 * @module
 */
import { denoDir } from "../../testenv/ktctl_process.ts";
import { KTCTL_V8_ARG } from "../../scripts/v8_flags.ts";
import { waitFor } from "./wait.ts";

export interface KtctlRun {
  child: Deno.ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Waits until `pattern` appears in stdout or stderr (or ktctl exits: then throws). */
  waitFor(pattern: RegExp, deadlineMs?: number): Promise<RegExpMatchArray>;
  /** The exit code, once it has exited. */
  exited: Promise<number>;
  /**
   * Sends a signal (if still running) and waits for the exit code; after `deadlineMs` (30 s)
   * kills it (and what it started cannot outlive the test) and throws.
   */
  stop(signal?: Deno.Signal, deadlineMs?: number): Promise<number>;
}

export function runKtctl(args: string[], env: Record<string, string> = {}): KtctlRun {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", KTCTL_V8_ARG, "main.ts", ...args],
    env: { DENO_DIR: denoDir(), ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "", err = "";
  const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
    const d = new TextDecoder();
    for await (const chunk of stream) add(d.decode(chunk, { stream: true }));
  };
  const pumps = Promise.all([
    pump(child.stdout, (s) => out += s),
    pump(child.stderr, (s) => err += s),
  ]);
  let done = false;
  const status = child.status.then((s) => {
    done = true;
    return s.code;
  });
  // Output is complete once every holder of the pipes is gone (the command ktctl ran too).
  const exited = status.then(async (code) => {
    await pumps;
    return code;
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, deadlineMs = 30_000) {
      let m: RegExpMatchArray | null = null;
      await waitFor(
        () => {
          m = out.match(pattern) ?? err.match(pattern);
          if (!m && done) throw new Error(`ktctl exited before ${pattern}:\n${out}\n${err}`);
          return m !== null;
        },
        deadlineMs,
        `${pattern} in ktctl's output:\n${out}\n${err}`,
        50,
      );
      return m!;
    },
    async stop(signal: Deno.Signal = "SIGINT", deadlineMs = 30_000) {
      if (!done) {
        try {
          child.kill(signal);
        } catch { /* just exited */ }
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), deadlineMs));
      const first = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (first !== "late") return first;
      try {
        child.kill("SIGKILL");
      } catch { /* just exited */ }
      await status; // not the output: a command it started may still hold the pipes
      throw new Error(`ktctl did not exit within ${deadlineMs} ms of ${signal}:\n${out}\n${err}`);
    },
  };
}
