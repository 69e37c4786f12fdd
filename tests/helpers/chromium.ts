/**
 * Headless Chromium as a real browser client: loads one URL with the given proxy flags and
 * returns the page's DOM (Chromium's own error page when it could not load it).
 * @module
 */

/**
 * `--dump-dom` of `url`, with `args` (the proxy settings) added to the headless flags. The page
 * gets `loadMs` to load (then Chromium dumps what it has, often nothing).
 */
export async function chromiumDom(url: string, args: string[], loadMs = 15_000): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "ktctl-chromium-" });
  try {
    const out = await new Deno.Command("chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        ...args,
        `--timeout=${loadMs}`,
        "--dump-dom",
        url,
      ],
      stdout: "piped",
      stderr: "piped",
      // --timeout bounds the page load; this bounds a browser that hangs anyway.
      signal: AbortSignal.timeout(loadMs + 45_000),
    }).output();
    const dom = new TextDecoder().decode(out.stdout);
    if (dom.trim()) return dom;
    // No page at all: what Chromium said instead is the only clue.
    const said = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-4).join(" | ");
    return `(no page; chromium exited ${out.code}: ${said})`;
  } catch (e) {
    return `chromium did not finish: ${e instanceof Error ? e.message : e}`;
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
