// Issue 12, adversarial: SYNs to port 179 from random sources, at the node's address where its BGP speaker listens.
// No source may make a peer, a series or a finding of its own; the agent stays under the chart's memory limit, keeps
// /healthz fast, survives and leaves no child behind.

import { afterAll, expect, it } from 'vitest';
import { describeAsRoot } from '../helpers/root.js';
import { describeProcs, healthReport } from './attack.js';
import { flood } from './flood.js';
import { chartMemoryLimitBytes, cleanupResults, report } from './measure.js';

/** Requested; martian sources are dropped by the LAN router, so what arrived is measured (the run: 60k). */
const SENT = 70_000;
const MIN_DISTINCT_ARRIVED = 55_000;
/** Series the flood may add, whatever its number of sources (the issue measured one per source: 60,006). */
const SERIES_GROWTH_BOUND = 100;
const HEALTHZ_P99_MS = 1000;

afterAll(cleanupResults);

describeAsRoot('adversarial: port-179 flood from random sources', () => {
  it(
    `${MIN_DISTINCT_ARRIVED} distinct sources to a listening port 179: no per-source series or finding, RSS under the chart's limit, /healthz p99 under 1 s, alive, no child left`,
    { timeout: 90_000 },
    async () => {
      const limitMiB = chartMemoryLimitBytes() / 2 ** 20;
      const r = await flood({ tag: 'advbgp', target: 'node', port: 179, count: SENT, listener: true });
      const m = r.metricsAfter;
      const sessionSeries = m.split('\n').filter((l) => l.startsWith('asymroute_bgp_session_up{')).length;
      const bgpFindingLines = m.split('\n').filter((l) => /^asymroute_findings\{type="bgp/.test(l));
      const bgpFindings = bgpFindingLines.reduce((t, l) => t + Number(l.split(' ').pop()), 0);
      report('bgp-flood', {
        sent: SENT,
        syns: r.arrived.syns,
        distinctSources: r.arrived.distinctSources,
        oracleDrops: r.arrived.droppedByKernel,
        capturedByAgent: r.extra['capturedByAgent'],
        sessionSeries,
        bgpFindings,
        rssPeakMiB: r.resources.rssPeakMiB,
        pssPeakMiB: r.resources.pssPeakMiB,
        agentHwmMiB: r.resources.agentHwmMiB,
        limitMiB,
        cpuSeconds: r.resources.cpuSeconds,
        cores: r.resources.cores,
        seconds: r.resources.seconds,
        floodSeconds: r.extra['floodSeconds'],
        ...healthReport(r.health, r.healthApi),
        seriesBefore: r.series.before,
        seriesPeak: r.series.peak,
        metricsBytes: r.series.metricsBytesAfter,
        alive: r.aliveAtEnd,
        leftBehind: describeProcs(r.leftBehind) || 'none',
        timeline: r.samples,
      });

      expect(r.arrived.distinctSources).toBeGreaterThanOrEqual(MIN_DISTINCT_ARRIVED);
      expect.soft(r.aliveAtEnd, 'the agent is alive after the flood').toBe(true);
      expect.soft(m, 'a /metrics answer after the flood').not.toBe('');
      expect.soft(sessionSeries, 'asymroute_bgp_session_up series: no peer is configured, so none').toBe(0);
      expect.soft(m, 'no BGP finding from unexpected sources').not.toMatch(/^asymroute_(vip_)?findings\{type="bgp[^}]*\} [1-9]/m);
      expect
        .soft(r.resources.rssPeakMiB, `RSS of the agent and its children stays under the chart's ${limitMiB} MiB`)
        .toBeLessThan(limitMiB);
      expect.soft(r.resources.agentHwmMiB, "the agent's own peak RSS (VmHWM) stays under the chart's limit").toBeLessThan(limitMiB);
      expect.soft(r.health.probes, 'enough /healthz probes to speak of a p99').toBeGreaterThanOrEqual(20);
      expect.soft(r.health.p99ms, '/healthz p99 during the flood').toBeLessThan(HEALTHZ_P99_MS);
      expect
        .soft(r.series.peak - r.series.before, `series added by the flood (bound ${SERIES_GROWTH_BOUND})`)
        .toBeLessThanOrEqual(SERIES_GROWTH_BOUND);
      expect.soft(r.stoppedInTime, 'the agent stops on SIGTERM within 5 s').toBe(true);
      expect.soft(describeProcs(r.leftBehind), 'children still running 5 s after the agent stopped').toBe('');
    },
  );
});
