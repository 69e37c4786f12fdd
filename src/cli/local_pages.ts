/**
 * The pages ktctl serves on its own port, fed from the live cluster picture: the PAC file lists
 * the namespaces and ranges seen now (rendered again only when they change), the live page says
 * where ktctl is connected and polls `/api/status` for the rest.
 * @module
 */
import type { ClusterIndex } from "../cluster/index.ts";
import type { LocalPages } from "../front/dialer.ts";
import { renderAbout } from "../front/http/about.ts";
import { pacDirective, renderPac } from "../front/http/pac.ts";
import { formatCidr } from "../net/ip.ts";
import { VERSION } from "../version.ts";
import type { Method } from "./banner.ts";

export function localPages(
  index: Pick<ClusterIndex, "namespaces" | "clusterRanges">,
  opts: {
    method: Method;
    hostPort: string;
    clusterDomain: string;
    cluster: string;
    /** `/api/status`'s JSON (status_model.ts), when this ktctl has a live view. */
    status?: () => string;
  },
): LocalPages {
  const proxy = pacDirective(opts.method === "http" ? "http" : "socks", opts.hostPort);
  let cached: { key: string; text: string } | undefined;
  return {
    pac() {
      const namespaces = index.namespaces();
      const ranges = index.clusterRanges().map(formatCidr);
      const key = `${namespaces.join(",")}|${ranges.join(",")}`;
      if (cached?.key !== key) {
        cached = {
          key,
          text: renderPac({ proxy, clusterDomain: opts.clusterDomain, namespaces, ranges }),
        };
      }
      return cached.text;
    },
    about: () => renderAbout({ version: VERSION, cluster: opts.cluster, hostPort: opts.hostPort }),
    status: opts.status,
  };
}
