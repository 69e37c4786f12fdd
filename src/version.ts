/** ktctl's version, from deno.json so there is one place to change it. @module */
import meta from "../deno.json" with { type: "json" };

export const VERSION: string = meta.version;
