// Regenerates captures/*.pcap from the namespace scenarios (root): tcpdump -i any -y LINUX_SLL2 in the node
// namespace while the client makes real TCP connections. Beside each capture: the node's `ip -j link`
// (interface names) and the findings the scenario is built to produce, declared here, not derived from asymroute.
//   npm run build && node dist/bench/record-captures.js

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import {
  buildIncidentLab,
  fixByDefaultRoute,
  fixByPolicyRouting,
  type IncidentLab,
  type IncidentOptions,
} from '../agent/netns/incident-lab.js';
import { startTcpServer, tcpConnect } from '../agent/netns/netns.js';

const OUT = fileURLToPath(new URL('../../captures/', import.meta.url));
const CONNECTIONS = 3;

interface Scenario {
  name: string;
  description: string;
  opts: IncidentOptions;
  fix?: (l: IncidentLab) => Promise<void>;
  expect: {
    outcomes: Record<string, number>;
    paths: Record<string, number>;
    findings: Array<Record<string, string>>;
    minRetransmittedSyns: number;
    connects: boolean;
  };
}

const SCENARIOS: Scenario[] = [
  {
    name: 'vagrant-incident',
    description: 'default route via the management NAT on eth0, VIP on the LAN (eth1): SYNs in on eth1, SYN-ACKs out on eth0, lost',
    opts: {},
    expect: {
      outcomes: { asymmetric: CONNECTIONS },
      paths: { 'eth1>eth0': CONNECTIONS },
      findings: [{ type: 'asymmetric-flows-observed', ingress: 'eth1', egress: 'eth0' }],
      minRetransmittedSyns: 1,
      connects: false,
    },
  },
  {
    name: 'fixed-policy-routing',
    description: 'the incident fixed with `ip rule add from VIP lookup 100` + a default route on eth1 in table 100',
    opts: {},
    fix: (l) => fixByPolicyRouting(l),
    expect: {
      outcomes: { symmetric: CONNECTIONS },
      paths: { 'eth1>eth1': CONNECTIONS },
      findings: [],
      minRetransmittedSyns: 0,
      connects: true,
    },
  },
  {
    name: 'fixed-default-route',
    description: 'the incident fixed by moving the default route to the LAN router on eth1',
    opts: {},
    fix: (l) => fixByDefaultRoute(l),
    expect: {
      outcomes: { symmetric: CONNECTIONS },
      paths: { 'eth1>eth1': CONNECTIONS },
      findings: [],
      minRetransmittedSyns: 0,
      connects: true,
    },
  },
  {
    name: 'rp-filter-strict',
    description: 'the incident with rp_filter=1 on eth1: the kernel drops the SYNs, nothing answers on any interface',
    opts: { rpFilterEth1: 1 },
    expect: {
      outcomes: { unanswered: CONNECTIONS },
      paths: { 'eth1>-': CONNECTIONS },
      findings: [{ type: 'syn-unanswered', ingress: 'eth1' }],
      minRetransmittedSyns: 1,
      connects: false,
    },
  },
];

async function record(s: Scenario): Promise<void> {
  const l = await buildIncidentLab('arrec', s.opts);
  try {
    if (s.fix) await s.fix(l);
    const server = await startTcpServer(l.node, l.vip, 8443);
    const file = join(OUT, `${s.name}.pcap`);
    const dump = execa(
      'ip',
      [
        'netns',
        'exec',
        l.node.name,
        'tcpdump',
        '-i',
        'any',
        '-y',
        'LINUX_SLL2',
        '--immediate-mode',
        '-U',
        '-n',
        '-s',
        '192',
        '-w',
        file,
        `host ${l.vip} or arp`,
      ],
      { reject: false, stdin: 'ignore' },
    );
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < CONNECTIONS; i++) {
      const c = await tcpConnect(l.client, l.vip, 8443, 1500);
      if (c.ok !== s.expect.connects)
        throw new Error(`${s.name}: connection ${i} ${c.ok ? 'succeeded' : `failed (${c.error})`}, the scenario expects otherwise`);
    }
    await new Promise((r) => setTimeout(r, 500));
    dump.kill('SIGTERM');
    await dump;
    await server.stop();
    const links = await l.node.ip(['-j', 'link', 'show']);
    await writeFile(join(OUT, `${s.name}.links.json`), JSON.stringify(JSON.parse(links.stdout), null, 1) + '\n');
    await writeFile(
      join(OUT, `${s.name}.expected.json`),
      JSON.stringify({ scenario: s.name, description: s.description, vip: l.vip, ...s.expect }, null, 2) + '\n',
    );
    console.log(`recorded ${file}`);
  } finally {
    await l.lab.destroy();
  }
}

for (const s of SCENARIOS) await record(s);
