// Metric names referenced by a PromQL expression (or a Grafana templating query). Not a PromQL parser:
// promtool checks syntax; this only has to tell metric names from functions, keywords and labels.

/** The metric names dashboards and alerts may use: what mcpkit and prom-client export, plus `up`. */
export const ALLOWED_METRICS = [
  'mcp_requests_total',
  'mcp_request_duration_seconds_bucket',
  'mcp_errors_total',
  'mcp_rate_limit_rejections_total',
  'mcp_active_connections',
  'mcp_active_sessions',
  'mcp_open_streams',
  'mcp_tool_invocations_total',
  'up',
] as const;
export const ALLOWED_METRIC_PREFIXES = ['process_', 'nodejs_'] as const;

export function isAllowedMetric(name: string): boolean {
  return (
    (ALLOWED_METRICS as readonly string[]).includes(name) ||
    ALLOWED_METRIC_PREFIXES.some((p) => name.startsWith(p))
  );
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

/** Grafana template variables ($job, ${instance}, $__rate_interval) become harmless tokens. */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, '5m')
    .replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}/g, '.*')
    .replace(/\$[A-Za-z_][A-Za-z0-9_]*/g, '.*');
}

export function metricNames(expression: string): string[] {
  let expr = substituteGrafanaVariables(expression);
  // Grafana's label_values(metric{...}, label) / label_values(label): only the metric counts.
  expr = expr.replace(/label_values\(\s*([^,()]*?)\s*(,[^()]*)?\)/g, (_m, first: string, rest?: string) =>
    rest ? first : '',
  );
  expr = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range and subquery selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  const names = new Set<string>();
  const identifier = /[A-Za-z_:][A-Za-z0-9_:]*/g;
  for (let match = identifier.exec(expr); match; match = identifier.exec(expr)) {
    const name = match[0];
    const before = expr[match.index - 1] ?? '';
    const after = expr.slice(match.index + name.length);
    if (/^\s*\(/.test(after)) continue; // function call or aggregation
    if (KEYWORDS.has(name.toLowerCase())) continue;
    if (/[0-9.]/.test(before)) continue; // the `e` of 1e-9, units of durations
    if (/^\d/.test(name)) continue;
    names.add(name);
  }
  return [...names].sort();
}
