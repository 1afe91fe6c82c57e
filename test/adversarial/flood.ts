// One spoofed-source SYN flood against the agent in the incident lab, measured: the attacker's namespace sends through
// the LAN router to the node's eth1 (replies leave by the node's default route to the management gateway, which drops
// them: nothing leaves the test's namespaces). Everything it starts is ended when the test finishes, whatever its
// outcome.

import { onTestFinished } from 'vitest';
import { buildIncidentLab, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { startTcpServer, type TcpServer } from '../../agent/netns/netns.js';
import { nsGet, untilValue } from '../helpers/netns-http.js';
import { tempDir } from '../helpers/tmp.js';
import {
  childrenOf,
  healthFigures,
  killAll,
  seriesPeak,
  startAgent,
  startArrivalCount,
  startProber,
  timedGet,
  survivors,
  synFlood,
  type HealthFigures,
  type RunningAgent,
  type Sample,
} from './attack.js';
import { ResourceSampler, running, seriesCount, sumOf, type ProcInfo, type ResourceFigures } from './measure.js';

export interface FloodResult {
  lab: IncidentLab;
  resources: ResourceFigures;
  /** /healthz on the probe port, where the chart sends the kubelet's probes */
  health: HealthFigures;
  /** /healthz on the API port, behind whatever the flood sends there */
  healthApi: HealthFigures;
  arrived: { syns: number; distinctSources: number; droppedByKernel: number };
  series: { before: number; peak: number; after: number; metricsBytesAfter: number };
  /** the agent's pid was running when the flood and the reads after it were over */
  aliveAtEnd: boolean;
  /** SIGTERM ended it within 5 s */
  stoppedInTime: boolean;
  /** children of the agent still running 5 s after it stopped */
  leftBehind: ProcInfo[];
  childrenAtEnd: string[];
  metricsAfter: string;
  extra: Record<string, unknown>;
  /** every /healthz and /metrics probe of the run */
  samples: Sample[];
  logs: string[];
}

export interface FloodPlan {
  tag: string;
  /** 'vip': the lab's VIP; 'node': the node's own LAN address (where a BGP speaker listens) */
  target: 'vip' | 'node';
  port: number;
  /** SYNs sent; what arrived is measured */
  count: number;
  /** a listening socket on the target port (a service, a BGP speaker) */
  listener: boolean;
  /** more serve flags */
  agentArgs?: string[];
  /** the agent's file limit (prlimit, soft and hard) */
  nofile?: number;
  /** what the attacker does after the flood, inside the measured window */
  during?: (lab: IncidentLab, agent: RunningAgent) => Promise<Record<string, unknown>>;
}

/** Waits until the agent's capture has read what the kernel queued: its packet counter stops moving for a second. */
async function captureSettled(lab: IncidentLab, port: number): Promise<number> {
  let last = -1;
  return untilValue(
    'the agent to read the queued packets',
    async () => {
      const m = await timedGet(lab.node, port, '/metrics', 10_000, true);
      const now = m.status === 200 ? sumOf(m.body ?? '', 'asymroute_capture_packets_total') : -2;
      const settled = now === last && now >= 0;
      last = now;
      if (!settled) await new Promise((r) => setTimeout(r, 800));
      return settled ? now + 1 : null;
    },
    30_000,
  ).then((x) => x - 1);
}

export async function flood(plan: FloodPlan): Promise<FloodResult> {
  let lab: IncidentLab | null = null;
  let server: TcpServer | null = null;
  let agent: RunningAgent | null = null;
  let prober: Awaited<ReturnType<typeof startProber>> | null = null;
  let leftovers: ProcInfo[] = [];
  onTestFinished(async () => {
    await prober?.stop();
    if (agent) {
      leftovers.push(...childrenOf(agent.pid));
      agent.proc.kill('SIGKILL');
      await agent.proc;
    }
    killAll(leftovers);
    await server?.stop();
    await lab?.lab.destroy();
  });

  const l = (lab = await buildIncidentLab(plan.tag));
  const dst = plan.target === 'vip' ? l.vip : '192.168.1.10';
  if (plan.listener) server = await startTcpServer(l.node, dst, plan.port);
  const dir = tempDir(plan.tag);
  agent = await startAgent(l.node, ['--vip', l.vip, '--client', l.clientCidr, '--kubernetes', 'off', ...(plan.agentArgs ?? [])], {
    nofile: plan.nofile,
  });
  await untilValue(
    "the agent's capture to run",
    async () => /^asymroute_capture_up 1$/m.test((await nsGet(l.node, '/metrics')).body),
    20_000,
  );
  prober = await startProber(l.node, agent);
  const before = seriesCount((await nsGet(l.node, '/metrics')).body);
  const counter = await startArrivalCount(l.node, 'eth1', dst, plan.port, dir);

  const sampler = new ResourceSampler(agent.pid).start();
  const t0 = Date.now();
  await synFlood(l.client, dst, plan.port, plan.count);
  const tFlood = Date.now();
  const captured = await captureSettled(l, agent.port).catch(() => null);
  const tSettled = Date.now();
  const extra = {
    capturedByAgent: captured,
    ...(await plan.during?.(l, agent)),
    floodSeconds: (tFlood - t0) / 1000,
    settleSeconds: (tSettled - tFlood) / 1000,
    duringSeconds: (Date.now() - tSettled) / 1000,
  };
  const t1 = Date.now();
  const resources = sampler.stop();
  const arrived = await counter.stop();
  const aliveAtEnd = running(agent.self);

  const m = await timedGet(l.node, agent.port, '/metrics', 5_000, true);
  const metricsAfter = m.status === 200 ? m.body! : '';
  // The agent may still be building an answer its client gave up on: its peak counts too.
  resources.agentHwmMiB = Math.max(resources.agentHwmMiB, sampler.hwmNowMiB());
  const health = healthFigures(prober.samples(), t0, t1);
  const healthApi = healthFigures(prober.samples(), t0, t1, 'healthz-api');
  const peak = seriesPeak(prober.samples(), t0, Date.now());
  await prober.stop();

  const kids = childrenOf(agent.pid);
  const stoppedInTime = await agent.stop(5_000);
  // An agent that ignored SIGTERM is killed: what its children do then is the SIGKILL case (no child may outlive it).
  if (!stoppedInTime) agent.proc.kill('SIGKILL');
  const leftBehind = await survivors(kids, 5_000);
  leftovers = leftBehind;
  return {
    lab: l,
    resources,
    health,
    healthApi,
    arrived,
    series: {
      before,
      peak: Math.max(peak, seriesCount(metricsAfter)),
      after: seriesCount(metricsAfter),
      metricsBytesAfter: metricsAfter.length,
    },
    aliveAtEnd,
    stoppedInTime,
    leftBehind,
    childrenAtEnd: kids.map((k) => k.comm),
    metricsAfter,
    extra,
    samples: prober.samples(),
    logs: agent.logs,
  };
}
