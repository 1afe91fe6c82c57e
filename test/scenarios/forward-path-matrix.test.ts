// The forward-path matrix: every backend kind, with the VIP local and not local, under every fix. In each cell the
// verdict of `asymroute check` must predict a real TCP connection from the client: "ok" if and only if it connects.
// The fixes applied are the commands `check` printed in the unfixed cell (the from-VIP rule, which it prints only for
// local sockets, is applied by hand elsewhere, to prove it fails there).

import { afterAll, expect, it } from 'vitest';
import { buildBackendLab, SERVICE_PORT, type BackendKind, type BackendLab, type VipMode } from '../../agent/netns/backend-lab.js';
import { tcpConnect } from '../../agent/netns/netns.js';
import type { CheckReportJson } from '../../agent/exposition/check-report.js';
import { checkJson } from '../helpers/cli.js';
import { describeAsRoot } from '../helpers/root.js';

type Fix = 'none' | 'from-vip' | 'connmark' | 'connmark-nft' | 'default-route';
const FIXES: Fix[] = ['none', 'from-vip', 'connmark', 'connmark-nft', 'default-route'];
const COMBOS: Array<[BackendKind, VipMode]> = [
  ['local-pod', 'local'],
  ['local-pod', 'not-local'],
  ['remote-pod', 'local'],
  ['remote-pod', 'not-local'],
  ['host-network', 'local'],
  ['host-network', 'not-local'],
  ['local-socket', 'local'],
];
// What the kernel does, written down independently of the tool: only local sockets are helped by a source rule.
const EXPECTED_CONNECT: Record<Fix, (b: BackendKind) => boolean> = {
  none: () => false,
  'from-vip': (b) => b === 'local-socket',
  connmark: () => true,
  'connmark-nft': () => true,
  'default-route': () => true,
};

const TITLES: Record<Exclude<Fix, 'none' | 'from-vip'>, RegExp> = {
  connmark: /^connmark policy routing \(iptables\)/,
  'connmark-nft': /^the same in nft syntax/,
  'default-route': /^move the default route to eth1$/,
};

interface Cell {
  backend: BackendKind;
  vipMode: VipMode;
  fix: Fix;
  verdict: 'ok' | 'not ok';
  findings: string;
  connected: boolean;
}
const cells: Cell[] = [];

async function apply(l: BackendLab, commands: string[]): Promise<void> {
  // As an operator would: each printed line pasted into a shell on the node.
  for (const c of commands) await l.node.exec(['sh', '-c', c]);
}

function printedFix(report: CheckReportJson, title: RegExp): string[] | null {
  const f = report.findings.find((x) => x.type === 'asymmetric-reply-path');
  return f?.remediation.find((r) => title.test(r.title))?.commands ?? null;
}

describeAsRoot('forward-path matrix: the verdict predicts the connection', () => {
  afterAll(() => {
    const rows = cells.map(
      (c) => `| ${c.backend} | ${c.vipMode} | ${c.fix} | ${c.verdict} | ${c.connected ? 'connects' : 'fails'} | ${c.findings || '-'} |`,
    );
    console.log(['| backend | VIP | fix | check | client | findings |', '|---|---|---|---|---|---|', ...rows].join('\n'));
  });

  for (const [backend, vipMode] of COMBOS) {
    it(`${backend}, VIP ${vipMode}`, async () => {
      let printed: CheckReportJson | null = null;
      for (const fix of FIXES) {
        const l = await buildBackendLab('arfwd', backend, vipMode);
        try {
          if (fix === 'from-vip') {
            const own = printed && printedFix(printed, /^policy routing: replies from/);
            if (backend === 'local-socket') expect(own, 'check prints the source rule for a local socket').not.toBeNull();
            else expect(own, "check must not print a source rule for DNAT'd replies").toBeNull();
            await apply(
              l,
              own ?? [
                `ip rule add from ${l.vip} lookup 100 priority 32765`,
                'ip route add 192.168.1.0/24 dev eth1 table 100',
                `ip route add default via ${l.lanGateway} dev eth1 table 100`,
              ],
            );
          } else if (fix !== 'none') {
            const cmds = printed && printedFix(printed, TITLES[fix]);
            expect(cmds, `check printed no "${fix}" fix`).not.toBeNull();
            await apply(l, cmds!);
          }
          const r = await checkJson(['--vip', l.vip, '--client', l.clientCidr], l.node);
          if (fix === 'none') printed = r.report;
          const conn = await tcpConnect(l.client, l.vip, SERVICE_PORT, 2000);
          const verdict = r.exitCode === 0 ? 'ok' : 'not ok';
          const findings = r.report.findings
            .filter((f) => f.severity !== 'info')
            .map((f) => f.type)
            .join(', ');
          cells.push({ backend, vipMode, fix, verdict, findings, connected: conn.ok });
          expect(conn.ok, `${fix}: the lab itself behaves as the kernel should`).toBe(EXPECTED_CONNECT[fix](backend));
          expect(verdict === 'ok', `${fix}: check said ${verdict} (${findings}) but the client ${conn.ok ? 'connected' : 'failed'}`).toBe(
            conn.ok,
          );
          if (fix === 'none') {
            const paths = r.report.vips[0]!.paths.filter((p) => p.clientKind === 'client-cidr');
            const kind = backend === 'local-socket' ? 'local' : backend === 'host-network' ? 'host-backend' : 'forwarded';
            expect(paths.map((p) => p.kind)).toEqual([kind]);
            if (kind === 'forwarded') expect(paths[0]!.question.iif).toBe(backend === 'local-pod' ? 'vethpod' : 'nodelink');
            expect(paths[0]!.verdict).toBe('asymmetric');
          }
          if (fix === 'connmark') {
            const p = r.report.vips[0]!.paths.find((x) => x.clientKind === 'client-cidr')!;
            expect(p.mark).toBe(0x64);
            expect(p.egress).toEqual(['eth1']);
            expect(p.model.table).toBe('100');
          }
        } finally {
          await l.server.stop();
          await l.lab.destroy();
        }
      }
    }, 180_000);
  }
});
