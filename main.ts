/**
 * ktctl: reach a Kubernetes cluster's pods, services and DNS names from this machine through a
 * local SOCKS proxy. See README.md.
 * @module
 */
import { main } from "./src/cli/main.ts";

if (import.meta.main) await main(Deno.args);
