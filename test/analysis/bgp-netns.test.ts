// BGP session health with a real BGP daemon (BIRD 2, Debian bird2) as the router and as the node's speaker: the
// router first does not list the node as a neighbour (the missing-neighbour incident), then does.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, expect, it } from 'vitest';
import { NetnsLab, type Netns } from '../../agent/netns/netns.js';
import { serveInNetns } from '../helpers/cli.js';
import { nsGet, untilValue } from '../helpers/netns-http.js';
import { describeAsRoot } from '../helpers/root.js';

const ROUTER = '192.168.1.254';
const NODE = '192.168.1.10';

const birdConf = (self: string, asn: number, neighbours: Array<[string, string, number]>) =>
  [
    `router id ${self};`,
    'protocol device {}',
    ...neighbours.map(
      ([name, ip, peerAs]) =>
        `protocol bgp ${name} { local ${self} as ${asn}; neighbor ${ip} as ${peerAs}; connect retry time 2; ipv4 { import none; export none; }; }`,
    ),
  ].join('\n') + '\n';

interface F {
  type: string;
  summary: string;
}

describeAsRoot('BGP session health against BIRD in namespaces', () => {
  let lab: NetnsLab | null = null;
  let dir: string | null = null;
  const procs: ResultPromise[] = [];
  afterEach(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.allSettled(procs);
    procs.length = 0;
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    lab = null;
    dir = null;
  });

  const bird = (ns: Netns, name: string) => {
    const p = execa(
      'ip',
      [
        'netns',
        'exec',
        ns.name,
        'bird',
        '-f',
        '-c',
        join(dir!, `${name}.conf`),
        '-s',
        join(dir!, `${name}.sock`),
        '-P',
        join(dir!, `${name}.pid`),
      ],
      { reject: false, stdin: 'ignore', buffer: false },
    );
    procs.push(p);
  };

  it('reports the session down while the router does not list the node, and up once it does', { timeout: 120_000 }, async () => {
    lab = new NetnsLab('arbgp');
    dir = mkdtempSync(join(tmpdir(), 'asymroute-bgp-'));
    const router = await lab.add('router');
    const node = await lab.add('node');
    await lab.link(router, 'eth0', node, 'eth0');
    await router.ip(['addr', 'add', `${ROUTER}/24`, 'dev', 'eth0']);
    await node.ip(['addr', 'add', `${NODE}/24`, 'dev', 'eth0']);
    // The router peers with another node only; this node's speaker dials the router.
    writeFileSync(join(dir, 'router.conf'), birdConf(ROUTER, 64500, [['nodeb', '192.168.1.11', 64512]]));
    writeFileSync(join(dir, 'node.conf'), birdConf(NODE, 64512, [['upstream', ROUTER, 64500]]));
    bird(router, 'router');
    bird(node, 'node');

    const agent = serveInNetns(
      node.name,
      ['--bgp-peer', ROUTER, '--vip', `192.168.1.240@eth0`, '--kubernetes', 'off', '--listen', '127.0.0.1'],
      { reject: false, stdin: 'ignore', buffer: false, env: { ASYMROUTE_CONFIG: '' } },
    );
    procs.push(agent);
    const findings = async () =>
      (JSON.parse((await nsGet(node, '/v1/findings')).body) as { findings: F[] }).findings.filter((f) => f.type === 'bgp-session-down');
    const metrics = async () => (await nsGet(node, '/metrics')).body;

    await untilValue('readyz', async () => (await nsGet(node, '/readyz')).status === 200, 20_000);
    const down = await untilValue(
      'bgp-session-down with the reason',
      async () => (await findings()).find((f) => /reset right after the TCP handshake/.test(f.summary)) ?? null,
      30_000,
    );
    expect(down.summary).toMatch(
      /^BGP session with 192\.168\.1\.254 is down since \S+ \((no TCP connection on port 179|TCP SYN-SENT)\): \d+ connections to it were reset right after the TCP handshake: the peer does not accept this node as a BGP neighbour/,
    );
    const m1 = await metrics();
    expect(m1).toMatch(/^asymroute_bgp_session_up\{peer="192\.168\.1\.254",expected="true"\} 0$/m);
    expect(Number(/^asymroute_bgp_peer_resets_total\{peer="192\.168\.1\.254"\} (\d+)/m.exec(m1)?.[1])).toBeGreaterThanOrEqual(1);
    expect(m1).toMatch(/^asymroute_findings\{type="bgp-session-down",severity="critical"\} 1$/m);
    // It stays down: the router resets two more of BIRD's connection attempts (retried every 2 s, each seen by the
    // agent's capture), and the finding read afterwards counts them and still says down.
    const resetCount = (f: F | undefined) => Number(/(\d+) connections to it were reset/.exec(f?.summary ?? '')?.[1] ?? 0);
    const later = await untilValue(
      'two more resets in the finding',
      async () => (await findings()).find((f) => resetCount(f) >= resetCount(down) + 2) ?? null,
      30_000,
    );
    expect(later.summary).toMatch(/^BGP session with 192\.168\.1\.254 is down since /);
    expect(await findings()).toHaveLength(1);
    expect(await metrics()).toMatch(/^asymroute_bgp_session_up\{peer="192\.168\.1\.254",expected="true"\} 0$/m);

    // The router's operator adds the node as a neighbour.
    writeFileSync(
      join(dir, 'router.conf'),
      birdConf(ROUTER, 64500, [
        ['nodeb', '192.168.1.11', 64512],
        ['nodea', NODE, 64512],
      ]),
    );
    const conf = await execa('birdc', ['-s', join(dir, 'router.sock'), 'configure'], { reject: false });
    expect(conf.stdout).toMatch(/Reconfigur/);
    await untilValue(
      'the session up and the finding cleared',
      async () =>
        (await findings()).length === 0 && /^asymroute_bgp_session_up\{peer="192\.168\.1\.254",expected="true"\} 1$/m.test(await metrics()),
      40_000,
    );
    const report = (await nsGet(node, '/')).body;
    expect(report).toMatch(/^BGP: 192\.168\.1\.254 up since /m);
    const api = JSON.parse((await nsGet(node, '/v1/bgp')).body) as { peers: Array<{ peer: string; up: boolean; tcpState: string }> };
    expect(api.peers).toEqual([expect.objectContaining({ peer: ROUTER, up: true, tcpState: 'ESTAB' })]);
  });
});
