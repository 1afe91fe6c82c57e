// Issue 12, adversarial: the agent under a 1024 file limit (prlimit), then 1100 idle sockets and 100 clients that ask
// for a large answer (/v1/flows?limit=10000 after a spoofed-source SYN burst) and never read it. Before issue 12 the
// agent crashed here (unhandled `spawn ss EMFILE`). It must stay alive, keep /healthz answering fast, stay under the
// chart's memory limit, and leave no child behind.

import { afterAll, expect, it } from 'vitest';
import { describeAsRoot } from '../helpers/root.js';
import { describeProcs, holdConnections, healthReport } from './attack.js';
import { flood } from './flood.js';
import { chartMemoryLimitBytes, cleanupResults, report } from './measure.js';

const NOFILE = 1024;
const IDLE = 1100;
const SLOW = 100;
/** the attack's length: the sockets are held this long, then the holder ends by itself */
const HOLD_MS = 10_000;
/** SYNs from random sources first, so the slow readers' answer is large (about 10,000 flows) */
const SENT = 13_000;
const HEALTHZ_P99_MS = 1000;

afterAll(cleanupResults);

describeAsRoot('adversarial: idle sockets and slow readers under a 1024 file limit', () => {
  it(
    `${IDLE} idle sockets and ${SLOW} readers that never read, agent at nofile ${NOFILE}: alive, /healthz p99 under 1 s, RSS under the chart's limit, no child left`,
    { timeout: 90_000 },
    async () => {
      const limitMiB = chartMemoryLimitBytes() / 2 ** 20;
      const r = await flood({
        tag: 'advslow',
        target: 'vip',
        port: 8443,
        count: SENT,
        listener: true,
        nofile: NOFILE,
        during: async (l, agent) => {
          const t = Date.now();
          const held = await holdConnections(l.node, agent.port, IDLE, SLOW, '/v1/flows?limit=10000', HOLD_MS);
          return { held, holdStart: t, holdEnd: Date.now() };
        },
      });
      const held = r.extra['held'] as Awaited<ReturnType<typeof holdConnections>>;
      // A failed spawn (EMFILE) may be reported and retried; only an uncaught one is a crash.
      const crash = r.logs.filter((x) => /uncaught|unhandled/i.test(x)).slice(0, 3);
      const spawnFailures = r.logs.filter((x) => /EMFILE|ENFILE/.test(x));
      report('slow-readers', {
        nofile: NOFILE,
        idle: IDLE,
        slow: SLOW,
        holdSeconds: HOLD_MS / 1000,
        opened: held.opened.opened,
        refusedAtOpen: held.opened.failed,
        closedByServer: held.end.closedByServer,
        rssPeakMiB: r.resources.rssPeakMiB,
        pssPeakMiB: r.resources.pssPeakMiB,
        agentHwmMiB: r.resources.agentHwmMiB,
        limitMiB,
        cpuSeconds: r.resources.cpuSeconds,
        cores: r.resources.cores,
        seconds: r.resources.seconds,
        ...healthReport(r.health, r.healthApi),
        seriesBefore: r.series.before,
        seriesPeak: r.series.peak,
        alive: r.aliveAtEnd,
        crashLog: crash.join(' | ').slice(0, 300) || 'none',
        spawnFailuresLogged: spawnFailures.length,
        firstSpawnFailure: spawnFailures[0]?.slice(0, 200) ?? 'none',
        leftBehind: describeProcs(r.leftBehind) || 'none',
        errors: held.end.errors,
        timeline: r.samples,
      });

      expect(held.opened.opened + held.opened.failed, 'every connection was attempted').toBe(IDLE + SLOW);
      expect.soft(r.aliveAtEnd, 'the agent is alive after the attack').toBe(true);
      expect.soft(crash, 'no uncaught error in the log (a failed spawn is reported, never fatal)').toEqual([]);
      expect.soft(r.health.probes, 'enough /healthz probes to speak of a p99').toBeGreaterThanOrEqual(20);
      expect.soft(r.health.p99ms, '/healthz p99 while the sockets are held').toBeLessThan(HEALTHZ_P99_MS);
      expect
        .soft(r.resources.rssPeakMiB, `RSS of the agent and its children stays under the chart's ${limitMiB} MiB`)
        .toBeLessThan(limitMiB);
      expect.soft(r.resources.agentHwmMiB, "the agent's own peak RSS (VmHWM) stays under the chart's limit").toBeLessThan(limitMiB);
      expect.soft(r.stoppedInTime, 'the agent stops on SIGTERM within 5 s').toBe(true);
      expect.soft(describeProcs(r.leftBehind), 'children still running 5 s after the agent stopped').toBe('');
    },
  );
});
