// Formatting results as plain-text tables (what `npm run bench` prints).

const fmt = (v, digits = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-');
const ratio = (v) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(v < 0.1 ? 3 : 2)}x` : '-');
const mb = (b) => (typeof b === 'number' ? (b / (1024 * 1024)).toFixed(1) : '-');

export function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * Throughput rows. `result.rps` etc. are the reported (best-of-runs) figures; `vsRps` is rps over the
 * baseline's rps, `vsCpu` the baseline's CPU per request over this row's (both: higher is better).
 * `srv CPU %` is the share of a core the server process got during the run: well under 100 on a
 * busy machine means the server was starved or the load generator could not keep it busy.
 */
export function throughputTable(rows) {
  return table(
    [
      'scenario',
      'req/s',
      'p50 ms',
      'p99 ms',
      'CPU us/req',
      'srv CPU %',
      'RSS MB',
      'x bare req/s',
      'x bare CPU',
      'errors',
      'runs req/s',
    ],
    rows.map((r) =>
      r.error
        ? [r.label, 'FAILED', '-', '-', '-', '-', '-', '-', '-', '-', r.error.slice(0, 60)]
        : [
            r.label,
            fmt(r.rps),
            fmt(r.p50Ms, 2),
            fmt(r.p99Ms, 2),
            fmt(r.cpuUsPerReq, 1),
            fmt(typeof r.serverCpuShare === 'number' ? r.serverCpuShare * 100 : undefined),
            mb(r.rssBytes),
            ratio(r.vsRps),
            ratio(r.vsCpu),
            String(r.errors ?? 0),
            r.runs.map((x) => fmt(x.rps)).join(' / '),
          ],
    ),
  );
}

export function sessionTable(results) {
  return table(
    ['server', 'sessions', 'heap B/session', 'RSS B/session', 'heap after MB'],
    results.map((r) =>
      r.error
        ? [r.kind, String(r.sessions), 'FAILED', r.error.slice(0, 60), '-']
        : [
            r.kind,
            String(r.sessions),
            fmt(r.heapBytesPerSession),
            fmt(r.rssBytesPerSession),
            mb(r.heapUsedAfter),
          ],
    ),
  );
}

export function heapTable(results) {
  return table(
    ['server / scenario', 'requests', 'heapUsed MB (after GC)', 'RSS MB', 'growth vs first'],
    results.flatMap((r) =>
      r.error
        ? [[`${r.kind} ${r.scenario}`, 'FAILED', r.error.slice(0, 60), '-', '-']]
        : r.points.map((p, i) => [
            i === 0 ? `${r.kind} ${r.scenario}` : '',
            String(p.requests),
            mb(p.heapUsed),
            mb(p.rss),
            i === 0 ? '-' : `${((p.heapUsed - r.points[0].heapUsed) / 1024).toFixed(0)} KB`,
          ]),
    ),
  );
}

export function profileTables(p) {
  const fns = table(
    ['#', 'self ms', '% busy', 'us/req', 'function', 'location'],
    p.functions.map((f, i) => [
      String(i + 1),
      fmt(f.us / 1000, 1),
      fmt(f.pctBusy, 1),
      fmt(f.usPerReq, 2),
      f.name,
      f.where,
    ]),
  );
  const mods = table(
    ['module', 'self ms', '% busy', 'us/req'],
    p.modules.map((m) => [m.module, fmt(m.us / 1000, 1), fmt(m.pctBusy, 1), fmt(m.usPerReq, 2)]),
  );
  return `Top self-time functions (${p.kind} ${p.scenario}, ${p.requests} requests, ${fmt(p.busyMs)} ms busy of ${fmt(p.totalMs)} ms):\n${fns}\n\nBy module:\n${mods}`;
}
