import { type Metric, type OpenMetricsContentType, Registry } from 'prom-client';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export interface Exposition {
  contentType: string;
  body: string;
}

/**
 * True when an Accept header ranks OpenMetrics at least as high as the Prometheus text
 * format (Prometheus itself sends `application/openmetrics-text;version=1.0.0,...,
 * text/plain;version=0.0.4;q=0.5`). No header, or one that only allows text, keeps 0.0.4.
 */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined || !accept.includes('openmetrics')) return false;
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const parts = range.split(';');
    const type = (parts[0] ?? '').trim().toLowerCase();
    let q = 1;
    for (let i = 1; i < parts.length; i++) {
      const [key, value] = (parts[i] ?? '').split('=');
      if (key?.trim().toLowerCase() === 'q' && value !== undefined) {
        const parsed = Number.parseFloat(value);
        q = Number.isFinite(parsed) ? parsed : 0;
      }
    }
    if (type === 'application/openmetrics-text') openMetrics = Math.max(openMetrics, q);
    else if (type === 'text/plain') text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics >= text;
}

/**
 * Renders a Prometheus-format registry in either exposition format.
 *
 * prom-client's OpenMetrics path renames counters in place (strips `_total` from the
 * registered metric), which would corrupt every later 0.0.4 render and the remote-write
 * snapshot. So OpenMetrics is rendered from a JSON snapshot through a throwaway
 * OpenMetrics registry of read-only stand-ins; the real metrics are never touched.
 */
export async function renderRegistry(registry: Registry, openMetrics: boolean): Promise<Exposition> {
  if (!openMetrics) return { contentType: PROMETHEUS_CONTENT_TYPE, body: await registry.metrics() };
  const snapshot = await registry.getMetricsAsJSON();
  const scratch = new Registry<OpenMetricsContentType>();
  scratch.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const item of snapshot) {
    const type = item.type as unknown as string;
    // OpenMetrics names the counter family without `_total` and suffixes each sample.
    const name = type === 'counter' ? item.name.replace(/_total$/, '') : item.name;
    const standIn = { name, type, get: async () => ({ ...item, name }) };
    scratch.registerMetric(standIn as unknown as Metric);
  }
  return { contentType: OPENMETRICS_CONTENT_TYPE, body: await scratch.metrics() };
}
