// The reach matrix's fetch() client, run by Deno and by Node: each takes its proxy from the
// environment by itself (Node only with NODE_USE_ENV_PROXY=1, from Node 24). One line per URL:
// index, status (0 when the request failed), and the start of the body or the error.
const oneLine = (s) => s.slice(0, 300).replaceAll("\r", "").replaceAll("\n", "\\n");
const urls = typeof Deno === "undefined" ? process.argv.slice(2) : Deno.args;
for (const [i, url] of urls.entries()) {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(15_000) });
    console.log(`${i}\t${r.status}\t${oneLine(await r.text())}`);
  } catch (e) {
    const cause = e?.cause ? ` (${e.cause})` : "";
    console.log(`${i}\t0\t${oneLine(`${e}${cause}`)}`);
  }
}
