/**
 * Seeds the TLS library's random generator on a background thread while the program loads.
 *
 * Why: Deno 2.9's TLS is rustls over AWS-LC, and AWS-LC seeds its process-wide random generator
 * on first use from CPU jitter entropy: 30-40 ms of CPU (perf on this machine shows the time in
 * an unoptimised rotate loop, jitterentropy's; strace shows no system call meanwhile). The first
 * TLS connection pays it on the main thread, before its ClientHello leaves, which put it on
 * `connect`'s path to its first reply. WebCrypto's P-256 key generation draws from the same
 * generator on Deno's blocking-thread pool, so asking for one throwaway key as the command starts
 * moves the seeding to another core, while the main thread reads and compiles the program.
 * Measured (bench/tls_warmup.ts, 40 ms of main-thread work before the first handshake, 8 runs
 * each): first handshake 34.2 ms (32.9-39.0) cold, 4.1 ms (3.7-4.6) after the warm-up; with only
 * 10 ms of work first, 37.3 → 24.2 ms (the seeding takes ~35 ms wherever it runs). It costs no
 * extra CPU (the seeding happens once either way); the key is never used.
 *
 * Only for commands that open TLS connections: a pending key keeps the event loop alive, so a
 * command that would otherwise exit at once would wait for it.
 * @module
 */

/** Starts the seeding; the promise settles when it is done (never rejects). */
export function warmTlsRandom(): Promise<void> {
  try {
    return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"])
      .then(() => {}, () => {});
  } catch {
    // A runtime without WebCrypto's EC keys: the first handshake pays the seeding, as before.
    return Promise.resolve();
  }
}
