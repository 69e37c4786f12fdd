/**
 * Headless Chromium kept open and driven over the DevTools protocol: load a page, evaluate
 * expressions in it while it runs (to watch it update without a reload), take a screenshot.
 * @module
 */
import { waitFor } from "./wait.ts";

export interface LivePage {
  /** Evaluates `expression` in the page; its value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of the page as it is now. */
  screenshot(): Promise<Uint8Array>;
  close(): Promise<void>;
}

export async function openPage(
  url: string,
  args: string[] = [],
  size = "1100,900",
): Promise<LivePage> {
  const profile = await Deno.makeTempDir({ prefix: "ktctl-cdp-" });
  const child = new Deno.Command("chromium", {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--window-size=${size}`,
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      ...args,
      url,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  let port = 0;
  await waitFor(
    async () => {
      const text = await Deno.readTextFile(`${profile}/DevToolsActivePort`).catch(() => "");
      port = Number(text.split("\n")[0]);
      return port > 0;
    },
    30_000,
    "Chromium's DevTools port",
  );
  let wsUrl = "";
  await waitFor(
    async () => {
      const list = await fetch(`http://127.0.0.1:${port}/json/list`).then((r) => r.json()).catch(
        () => [],
      ) as { type: string; webSocketDebuggerUrl: string }[];
      wsUrl = list.find((t) => t.type === "page")?.webSocketDebuggerUrl ?? "";
      return wsUrl !== "";
    },
    30_000,
    "a page target",
  );
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 1;
  const pending = new Map<number, (m: { result?: unknown; error?: unknown }) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  };
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = next++;
      pending.set(
        id,
        (m) =>
          m.error
            ? reject(new Error(JSON.stringify(m.error)))
            : resolve(m.result as Record<string, unknown>),
      );
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    async evaluate<T>(expression: string): Promise<T> {
      const r = await call("Runtime.evaluate", {
        expression,
        returnByValue: true,
        awaitPromise: true,
      });
      const result = r.result as { value?: T };
      return result.value as T;
    },
    async screenshot() {
      const r = await call("Page.captureScreenshot", { format: "png" });
      return Uint8Array.from(atob(r.data as string), (c) => c.charCodeAt(0));
    },
    async close() {
      ws.close();
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
