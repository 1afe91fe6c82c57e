// Findings from packets: flows that came in on one interface and whose replies (RST and ICMP errors included) left on
// another, TCP SYNs nobody answered. UDP and other requests without a reply are only counted (the no-reply outcome).

import { finding, type Finding } from '../findings/registry.js';
import type { PacketSkip, VipTally } from './flow-matcher.js';
import { kernelText, questionText } from '../reply-path/findings.js';
import type { VipReport } from '../reply-path/verdicts.js';

export interface EvidenceInput {
  tally: Map<string, VipTally>;
  skipped: Record<PacketSkip, number>;
  /** the capture had no interface index (plain SLL or Ethernet): ingress/egress cannot be told */
  interfacesKnown: boolean;
  /** the last static check's view of a VIP, to say whether it saw this asymmetry */
  staticVip?: (vip: string) => VipReport | null;
}

// The static check saw every path it models as fine, yet packets left elsewhere: show what it asked, not "run check".
function staticMisses(
  vip: string,
  ingress: string,
  egress: string,
  v: VipReport,
): { summary: string; evidence: string[]; commands: string[] } {
  const evidence: string[] = [];
  for (const b of v.backends.slice(0, 4)) {
    const marks = b.ctMarks.length > 0 ? `, conntrack marks ${b.ctMarks.map((m) => `0x${m.toString(16)}`).join(', ')}` : '';
    evidence.push(
      `backend ${b.ip}${b.port !== null ? `:${b.port}` : ''} (${b.sources.join(', ')}): ${b.local ? 'replies sent locally' : `replies arrive on ${b.iif ?? '?'}`}${b.snat ? ", SNAT'd" : ''}${marks}`,
    );
  }
  for (const p of v.paths.filter((x) => x.clientKind !== 'gateway').slice(0, 4)) {
    evidence.push(`static: ${questionText(p.question)} -> ${p.kernel ? kernelText(p.kernel) : 'no kernel answer'} (${p.verdict})`);
  }
  for (const b of v.blind) evidence.push(`cannot see: ${b}`);
  const commands = [
    `conntrack -L -d ${vip}`,
    ...v.paths
      .filter((x) => x.clientKind !== 'gateway')
      .slice(0, 2)
      .map((p) => questionText(p.question)),
  ];
  return {
    summary: `the static check finds every path it models for ${vip} leaving on ${ingress}, yet replies left on ${egress}: the static model misses this path`,
    evidence,
    commands,
  };
}

export function pathsText(paths: Record<string, number>): string {
  return Object.entries(paths)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k.replace('>', ' -> ')}: ${n}`)
    .join(', ');
}

export function evidenceFindings(input: EvidenceInput): Finding[] {
  const out: Finding[] = [];
  if (!input.interfacesKnown && input.skipped['no-interface'] > 0) {
    out.push(
      finding('capture-without-interfaces', {
        vip: null,
        summary: `${input.skipped['no-interface']} VIP packets carry no interface index (not LINUX_SLL2): live evidence of ingress and egress is unavailable`,
        evidence: ['capture with tcpdump -i any -y LINUX_SLL2 (tcpdump >= 4.99 with libpcap >= 1.10)'],
        remediation: [],
      }),
    );
  }
  for (const [vip, t] of input.tally) {
    const asymPaths = Object.fromEntries(
      Object.entries(t.paths).filter(([k]) => {
        const [i, e] = k.split('>');
        return e !== '-' && i !== '?' && i !== e;
      }),
    );
    if (t.outcomes.asymmetric > 0) {
      const [first] = Object.keys(asymPaths);
      const [ingress, egress] = (first ?? '?>?').split('>');
      const retrans =
        t.retransmittedSyns > 0
          ? `; clients retransmitted their SYN ${t.retransmittedSyns} times: from their side the SYNs went unanswered`
          : '';
      const sv = input.staticVip?.(vip) ?? null;
      const seen = sv === null || sv.paths.some((p) => p.verdict === 'asymmetric' || p.verdict === 'unknown' || p.verdict === 'unroutable');
      const miss = !seen ? staticMisses(vip, ingress ?? '?', egress ?? '?', sv) : null;
      out.push(
        finding('asymmetric-flows-observed', {
          vip,
          summary: `${vip}: ${t.outcomes.asymmetric} flows arrived on ${ingress} and their replies left on ${egress}${retrans}${miss ? `; ${miss.summary}` : ''}`,
          evidence: [`flows by path (in -> out): ${pathsText(t.paths)}`, ...(miss?.evidence ?? [])],
          remediation: miss
            ? [
                {
                  title: 'find what sends these replies elsewhere: compare the live connections with what the static check asked',
                  commands: miss.commands,
                  note: 'candidates the model does not see: tc or eBPF redirects, marks written after PREROUTING, a backend no rule, conntrack entry or EndpointSlice names; please report it with `asymroute snapshot`',
                },
              ]
            : [
                {
                  title: sv
                    ? `see the asymmetric-reply-path finding for ${vip}: the rule, the route and the fix`
                    : `run asymroute check --vip ${vip} for the rule and route that send the replies out on ${egress}, and the fix`,
                  commands: [],
                },
              ],
          ingress: ingress ?? null,
          egress: egress ?? null,
        }),
      );
    }
    if (t.outcomes.unanswered > 0) {
      const ins = Object.entries(t.paths)
        .filter(([k]) => k.endsWith('>-'))
        .map(([k, n]) => `${k.split('>')[0]} (${n})`);
      out.push(
        finding('syn-unanswered', {
          vip,
          summary: `${vip}: ${t.outcomes.unanswered} TCP SYNs got no reply on any interface (requests in on ${ins.join(', ') || '?'})`,
          evidence: [
            `outcomes: ${Object.entries(t.outcomes)
              .filter(([, n]) => n > 0)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ')}`,
          ],
          remediation: [
            {
              title: 'nothing answered: no listener, a firewall, or rp_filter dropping the request (asymroute check shows rp-filter-drop)',
              commands: [],
            },
          ],
          ingress: ins.length === 1 ? ins[0]!.split(' ')[0]! : null,
        }),
      );
    }
  }
  return out;
}
