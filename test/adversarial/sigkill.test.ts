// Issue 12, adversarial: SIGKILL of the agent while it runs every kind of child (its capture's tcpdump, ip monitor,
// an arping probe, the tcpdump of a /v1/capture download, ss polls). No process it started may outlive it: the
// kernel gets a deadline to end and reap them, then anything still running is named and fails the test.

import { readFileSync } from 'node:fs';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, expect, it } from 'vitest';
import { buildIncidentLab, type IncidentLab } from '../../agent/netns/incident-lab.js';
import { untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';
import { childrenOf, describeProcs, killAll, startAgent, survivors, type RunningAgent } from './attack.js';
import { cleanupResults, report, running, type ProcInfo } from './measure.js';

/** the kernel's deadline to end and reap the children once the agent is gone */
const REAP_MS = 5_000;
const MARKER = 'ASYMROUTE_CAPTURE';

/** Processes whose environment carries the capture marker naming `owner` (agent/capture/tcpdump.ts's convention). */
function markedBy(owner: number, among: ProcInfo[]): ProcInfo[] {
  return among.filter((p) => {
    try {
      return readFileSync(`/proc/${p.pid}/environ`, 'latin1').split('\0').includes(`${MARKER}=${owner}`);
    } catch {
      return false;
    }
  });
}

afterAll(cleanupResults);

describeAsRoot('adversarial: SIGKILL of the agent', () => {
  let lab: IncidentLab | null = null;
  let agent: RunningAgent | null = null;
  let download: ResultPromise | null = null;
  let leftovers: ProcInfo[] = [];
  afterEach(async () => {
    if (agent) {
      leftovers.push(...childrenOf(agent.pid));
      agent.proc.kill('SIGKILL');
      await agent.proc;
    }
    killAll(leftovers);
    download?.kill('SIGKILL');
    await download;
    await lab?.lab.destroy();
    lab = agent = download = null;
    leftovers = [];
  });

  it(
    `leaves no child running ${REAP_MS / 1000} s after SIGKILL: capture, ip monitor, arping, a /v1/capture download`,
    { timeout: 60_000 },
    async () => {
      const l = (lab = await buildIncidentLab('advkill'));
      const a = (agent = await startAgent(l.node, [
        '--vip',
        l.vip,
        '--client',
        l.clientCidr,
        '--kubernetes',
        'off',
        '--pcap-download',
        '--arp-probe',
        '--arp-probe-interval',
        '5',
      ]));
      // A download in progress: its tcpdump runs until the 30 s are over.
      download = execa(
        'ip',
        [
          'netns',
          'exec',
          l.node.name,
          process.execPath,
          '-e',
          `fetch(process.argv[1]).then((r) => r.arrayBuffer()).catch(() => {})`,
          `http://127.0.0.1:${a.port}/v1/capture?seconds=30`,
        ],
        { reject: false, stdin: 'ignore', timeout: 45_000 },
      );
      const kids = await untilValue(
        'the capture, ip monitor and download tcpdump to run',
        async () => {
          const k = childrenOf(a.pid);
          return k.filter((p) => p.comm === 'tcpdump').length >= 2 && k.some((p) => p.comm === 'ip') ? k : null;
        },
        20_000,
      );
      // arping runs a few seconds per round: take it in when it comes within one round, without making it a condition.
      const withArping = await untilValue(
        'an arping probe',
        async () => (childrenOf(a.pid).some((p) => p.comm === 'arping') ? childrenOf(a.pid) : null),
        7_000,
      ).catch(() => kids);
      const before = withArping.filter((p) => running(p));
      const marked = markedBy(a.pid, before);

      a.proc.kill('SIGKILL');
      await a.proc;
      const left = (leftovers = await survivors(before, REAP_MS));
      report('sigkill', {
        children: describeProcs(before),
        marked: describeProcs(marked) || 'none',
        reapDeadlineSeconds: REAP_MS / 1000,
        leftBehind: describeProcs(left) || 'none',
        leftMarked: describeProcs(markedBy(a.pid, left)) || 'none',
      });

      expect(before.map((p) => p.comm)).toEqual(expect.arrayContaining(['tcpdump', 'tcpdump', 'ip']));
      expect
        .soft(describeProcs(marked.filter((p) => p.comm === 'tcpdump')), 'every tcpdump it started carries the capture marker')
        .toBe(describeProcs(before.filter((p) => p.comm === 'tcpdump')));
      expect(describeProcs(left), `children still running ${REAP_MS / 1000} s after SIGKILL of the agent`).toBe('');
    },
  );
});
