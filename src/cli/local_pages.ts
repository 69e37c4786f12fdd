/**
 * The pages ktctl serves on its own port, fed from the live cluster picture: the PAC file lists
 * the namespaces and ranges seen now (rendered again only when they change), the live page says
 * where ktctl is connected and polls `/api/status` for the rest.
 * @module
 */
import type { ClusterIndex } from "../cluster/index.ts";
import type { LocalPages } from "../front/dialer.ts";
import { renderAbout } from "../front/http/about.ts";
import { pacDirective, type PacPrevious, renderPac } from "../front/http/pac.ts";
import { formatCidr } from "../net/ip.ts";
import { VERSION } from "../version.ts";
import type { ProxyMethod } from "../sysproxy/types.ts";

export function localPages(
  index: Pick<ClusterIndex, "namespaces" | "clusterRanges">,
  opts: {
    method: ProxyMethod;
    hostPort: string;
    clusterDomain: string;
    cluster: string;
    /** `/api/status`'s JSON (status_model.ts), when this ktctl has a live view. */
    status?: () => string;
    /** What the PAC answers outside the cluster (the previous configuration); default DIRECT. */
    previous?: () => PacPrevious;
  },
): LocalPages {
  const proxy = pacDirective(opts.method === "http" ? "http" : "socks", opts.hostPort);
  let cached: { key: string; previous: PacPrevious | undefined; text: string } | undefined;
  return {
    pac() {
      const namespaces = index.namespaces();
      const ranges = index.clusterRanges().map(formatCidr);
      const previous = opts.previous?.();
      const key = `${namespaces.join(",")}|${ranges.join(",")}`;
      // The previous configuration is a new object whenever it changes (a refreshed PAC file).
      if (cached?.key !== key || cached.previous !== previous) {
        cached = {
          key,
          previous,
          text: renderPac({
            proxy,
            clusterDomain: opts.clusterDomain,
            namespaces,
            ranges,
            previous,
          }),
        };
      }
      return cached.text;
    },
    about: () => renderAbout({ version: VERSION, cluster: opts.cluster, hostPort: opts.hostPort }),
    status: opts.status,
  };
}
