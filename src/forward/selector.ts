/**
 * A Deployment's `spec.selector`, read defensively from API JSON, and the client-side match of
 * its `matchExpressions` (the API's label-selector query carries the `matchLabels` part; pods
 * are looked up by it and then filtered here). Pure.
 * @module
 */

export interface Requirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values: string[];
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: Requirement[];
}

const OPERATORS = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

/** The selector of a Deployment object, or undefined when it has none that can be read. */
export function deploymentSelector(raw: unknown): LabelSelector | undefined {
  const selector = field(field(raw, "spec"), "selector");
  if (typeof selector !== "object" || selector === null) return undefined;
  const matchLabels: Record<string, string> = {};
  const labels = field(selector, "matchLabels");
  if (typeof labels === "object" && labels !== null) {
    for (const [k, v] of Object.entries(labels)) if (typeof v === "string") matchLabels[k] = v;
  }
  const matchExpressions: Requirement[] = [];
  const exprs = field(selector, "matchExpressions");
  for (const e of Array.isArray(exprs) ? exprs : []) {
    const key = field(e, "key"), operator = field(e, "operator"), values = field(e, "values");
    if (typeof key !== "string" || typeof operator !== "string" || !OPERATORS.has(operator)) {
      return undefined; // a requirement we cannot read must not widen the match
    }
    matchExpressions.push({
      key,
      operator: operator as Requirement["operator"],
      values: Array.isArray(values) ? values.filter((v): v is string => typeof v === "string") : [],
    });
  }
  return { matchLabels, matchExpressions };
}

/** Whether `labels` satisfy every requirement (matchLabels are checked by the query). */
export function matchesExpressions(
  labels: Record<string, string>,
  requirements: Requirement[],
): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.operator) {
      case "In":
        return has && r.values.includes(labels[r.key]);
      case "NotIn":
        return !has || !r.values.includes(labels[r.key]);
      case "Exists":
        return has;
      case "DoesNotExist":
        return !has;
    }
  });
}

function field(v: unknown, name: string): unknown {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)[name]
    : undefined;
}
