// Small numeric helpers shared by the drivers and the report.

/** Nearest-rank percentile of an ascending-sorted array (undefined when empty). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
