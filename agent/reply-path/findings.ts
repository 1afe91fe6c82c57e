// Finding authoring: turns the verdicts of the reply-path check into findings, with the evidence an operator reads and
// the fixes remediation.ts builds.

import { formatPrefix, prefixContains, type Prefix } from '../net/ip.js';
import type { HostSnapshot, Route } from '../model/host-state.js';
import type { KernelVerdict, RouteQuestion } from '../model/route-question.js';
import { describeRoute } from '../analysis/route-model.js';
import { connectedSubnets } from '../analysis/vips.js';
import { finding, type Finding } from '../findings/registry.js';
import { fixesForAsymmetry, rpFilterFixes } from './remediation.js';
import type { ModelSummary, PathAnalysis, PathReport, VipAnalysis, VipReport } from './verdicts.js';

/** The findings about one VIP, in the order the report has always listed them before sorting. */
export function vipFindings(a: VipAnalysis, snap: HostSnapshot, gateways: Record<string, string> | undefined): Finding[] {
  const findings: Finding[] = [];
  const { spec: vip, report, ingress: ing } = a;
  const label = vip.service ? `${vip.ip} (${vip.service})` : vip.ip;
  if (!a.local) {
    findings.push(
      finding('vip-not-local', {
        vip: vip.ip,
        summary: `${label} is not an address of this host: replies are routed by destination only`,
        evidence: [`no interface holds ${vip.ip} (ip -j addr)`],
        remediation: [],
      }),
    );
  }
  if (!ing.subnet && !ing.configured) {
    findings.push(
      finding('vip-outside-connected-subnets', {
        vip: vip.ip,
        summary: `${label} lies in no connected subnet: L2 (ARP/NDP) announcements cannot reach clients`,
        evidence: [
          `connected subnets: ${
            connectedSubnets(snap)
              .map((s) => `${formatPrefix(s.prefix)} on ${s.ifname}`)
              .join(', ') || 'none'
          }`,
        ],
        remediation: [
          {
            title: 'allocate the VIP from a LAN subnet (L2 mode)',
            commands: [],
            note: 'MetalLB L2 mode answers ARP/NDP only for clients on the same segment.',
          },
          {
            title: 'or announce it with BGP and pin its ingress interface',
            commands: [],
            note: `run asymroute with --vip ${vip.ip}@<interface towards the BGP router>`,
          },
        ],
        ingress: null,
      }),
    );
  }
  for (const { report: p } of a.paths) {
    if (p.modelAgrees === false) {
      findings.push(
        finding('route-model-mismatch', {
          vip: vip.ip,
          summary: `the route model disagrees with the kernel for replies to ${p.client}: the kernel's answer is used`,
          evidence: [`${questionText(p.question)}`, `kernel: ${kernelText(p.kernel!)}`, `model: ${modelText(p.model)}`],
          remediation: [{ title: 'report this with the snapshot attached (asymroute snapshot > snapshot.json)', commands: [] }],
          client: p.client,
        }),
      );
    } else if (p.model.kind === 'unknown') {
      findings.push(
        finding('route-model-unknown', {
          vip: vip.ip,
          summary: `the route model cannot explain replies to ${p.client}: ${p.model.reason}`,
          evidence: p.kernel ? [`kernel: ${kernelText(p.kernel)}`] : ['no kernel answer (offline snapshot)'],
          remediation: [],
          client: p.client,
        }),
      );
    }
  }
  const unknown = report.paths.filter((p) => p.verdict === 'unknown' && p.clientKind !== 'gateway');
  if (unknown.length > 0) {
    const reasons = [...new Set(unknown.map((p) => p.reason ?? 'unknown'))];
    findings.push(
      finding('reply-path-unknown', {
        vip: vip.ip,
        summary: `${label}: asymroute cannot tell where replies leave for ${unknown.length} of ${report.paths.length} paths: ${reasons[0]}`,
        evidence: [
          ...reasons.map((r) => `why: ${r}`),
          ...unknown.slice(0, 4).map((p) => `${questionText(p.question)}${p.kernel ? ` -> ${kernelText(p.kernel)}` : ''}`),
        ],
        remediation: [
          {
            title: 'make the path visible',
            commands: [],
            note: "run asymroute with CAP_NET_ADMIN so it can read the ruleset and conntrack (iptables-save, nft -j list ruleset, conntrack -L); on an eBPF datapath (Cilium), verify with live evidence (asymroute serve) or the datapath's own tools (cilium-dbg monitor)",
          },
        ],
        ingress: ing.ingress,
      }),
    );
  }
  const byEgress = new Map<string, PathAnalysis[]>();
  for (const x of a.paths) {
    if (x.report.verdict !== 'asymmetric') continue;
    const k = x.report.egress.join(',');
    byEgress.set(k, [...(byEgress.get(k) ?? []), x]);
  }
  for (const [egress, group] of byEgress) {
    const first = group[0]!;
    const p = first.report;
    const paths = group.map((x) => x.report);
    const evidence = paths.map(
      (x) =>
        `${questionText(x.question)} -> ${x.kernel ? kernelText(x.kernel) : `model: ${modelText(x.model)}`} (${clientLabel(x)}; ${sourceLabel(x)})`,
    );
    if (p.rule) evidence.push(`decided by rule ${p.rule}${p.route ? `, route ${p.route}` : ''}`);
    for (const x of paths) if (x.reason) evidence.push(`note: ${x.reason}`);
    const context = {
      snapshot: snap,
      family: a.family,
      vip: vip.ip,
      ingress: ing.ingress!,
      subnet: report.subnet,
      local: a.local,
      onlyLocalSockets: report.paths.every((x) => x.kind === 'local'),
      backends: report.backends.map((b) => b.ip),
      ...(gateways?.[ing.ingress!] ? { configuredGateway: gateways[ing.ingress!] } : {}),
    };
    findings.push(
      finding('asymmetric-reply-path', {
        vip: vip.ip,
        summary: `${label}: requests arrive on ${ing.ingress}, replies to ${[...new Set(paths.map((x) => x.cidr ?? x.client))].join(', ')} leave on ${egress}${p.route ? ` (${p.route})` : ''}${sourcesText(paths)}`,
        evidence,
        remediation: fixesForAsymmetry(context, { client: p.client, egress: p.egress, rule: first.rule, route: first.route }),
        ingress: ing.ingress,
        egress,
        client: p.client,
        rule: p.rule,
        route: p.route,
      }),
    );
  }
  for (const p of report.paths.filter((x) => x.verdict === 'unroutable' && x.clientKind !== 'gateway')) {
    findings.push(
      finding(
        'reply-unroutable',
        {
          vip: vip.ip,
          summary: `${label}: replies to ${p.cidr ?? p.client} have no route (${p.kernel && !p.kernel.ok ? p.kernel.errno : (p.model.errno ?? p.model.reason)})`,
          evidence: [`${questionText(p.question)} -> ${p.kernel ? kernelText(p.kernel) : `model: ${modelText(p.model)}`}`],
          remediation: [],
          ingress: ing.ingress,
          client: p.client,
          rule: p.rule,
          route: p.route,
        },
        { lowered: p.clientKind === 'default-destination' },
      ),
    );
  }
  const rp = snap.sysctls.rpFilter;
  for (const d of a.rpFilterDrops) {
    const p = d.path;
    findings.push(
      finding('rp-filter-drop', {
        vip: vip.ip,
        summary: `${label}: rp_filter=${report.rpFilter} on ${ing.ingress} drops requests from ${p.cidr ?? p.client}: their reverse path leaves on ${p.egress.join(', ') || 'no interface'}`,
        evidence: [
          `${questionText(d.question)} -> ${d.kernel ? kernelText(d.kernel) : `model: ${modelText(d.model)}`}`,
          `net.ipv4.conf.all.rp_filter=${rp['all'] ?? '?'}, net.ipv4.conf.${ing.ingress}.rp_filter=${rp[ing.ingress!] ?? '?'} (the kernel uses the larger)`,
        ],
        remediation: rpFilterFixes(snap, ing.ingress!),
        ingress: ing.ingress,
        egress: p.egress.join(',') || null,
        client: p.client,
      }),
    );
  }
  return findings;
}

/** Findings about the host as a whole: competing or multipath default routes, a default route on a NAT network. */
export function hostFindings(snap: HostSnapshot, reports: VipReport[], mgmt: (Prefix | null)[]): Finding[] {
  const out: Finding[] = [];
  const ingresses = new Set(reports.map((r) => r.ingress).filter((x): x is string => x !== null));
  for (const family of [4, 6] as const) {
    const defaults = snap.routes.filter((r) => r.family === family && r.table === 'main' && r.dst === 'default' && r.type === 'unicast');
    const devs = new Set(defaults.flatMap((r) => r.nexthops.map((n) => n.dev ?? '')));
    if (defaults.length > 1 && devs.size > 1) {
      out.push(
        finding('competing-default-routes', {
          vip: null,
          summary: `${defaults.length} IPv${family} default routes on ${[...devs].join(', ')}: the lowest metric wins, and which one that is changes when a link or DHCP lease changes`,
          evidence: defaults.map((r) => describeRoute(r)),
          remediation: [
            {
              title: 'keep one default route, or give each a distinct metric on purpose and use policy routing for VIP replies',
              commands: [],
            },
          ],
        }),
      );
    }
    for (const r of defaults.filter((d) => d.nexthops.length > 1)) {
      const nd = new Set(r.nexthops.map((n) => n.dev));
      if (nd.size > 1) {
        out.push(
          finding('multipath-default-spans-interfaces', {
            vip: null,
            summary: `the IPv${family} default route is multipath over ${[...nd].join(', ')}: replies are hashed across interfaces per flow`,
            evidence: [describeRoute(r)],
            remediation: [{ title: 'route VIP replies with policy routing to the VIP interface', commands: [] }],
          }),
        );
      }
    }
    const best = defaults.slice().sort((a, b) => a.metric - b.metric)[0];
    if (!best) continue;
    const dev = best.nexthops[0]?.dev ?? null;
    // Only worth saying when VIP replies actually leave through it.
    const misrouted = reports.some((r) => r.paths.some((p) => p.verdict === 'asymmetric' && p.egress.includes(dev ?? '')));
    if (!dev || !misrouted) continue;
    const devSubnets = connectedSubnets(snap).filter((s) => s.ifname === dev && s.prefix.family === family);
    const hit = devSubnets.find((s) =>
      mgmt.some((m) => m && m.family === family && m.len <= s.prefix.len && prefixContains(m, { family, value: s.prefix.value })),
    );
    if (hit) {
      out.push(
        finding('default-route-on-management-network', {
          vip: null,
          summary: `the IPv${family} default route uses ${dev} (${formatPrefix(hit.prefix)}, a NAT/management network) while VIPs arrive on ${[...ingresses].filter((i) => i !== dev).join(', ')}`,
          evidence: [describeRoute(best as Route)],
          remediation: [{ title: 'see asymmetric-reply-path for the fixes', commands: [] }],
          egress: dev,
        }),
      );
    }
  }
  return out;
}

export function questionText(q: RouteQuestion): string {
  const fam = q.dst.includes(':') ? 'ip -6' : 'ip';
  return [
    `${fam} route get ${q.dst}`,
    q.src ? `from ${q.src}` : '',
    q.iif ? `iif ${q.iif}` : '',
    q.oif ? `oif ${q.oif}` : '',
    q.mark ? `mark ${q.mark}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

export function kernelText(k: KernelVerdict): string {
  if (!k.ok) return `error ${k.errno} (${k.message.replace(/^RTNETLINK answers: /, '')})`;
  return [k.type !== 'unicast' ? k.type : '', k.gateway ? `via ${k.gateway}` : '', `dev ${k.dev}`].filter(Boolean).join(' ');
}

export function modelText(m: ModelSummary): string {
  if (m.kind === 'unknown') return `unknown (${m.reason})`;
  if (m.kind === 'error') return `error ${m.errno} (${m.reason})`;
  return m.devs.map((d, i) => `${m.gateways[i] ? `via ${m.gateways[i]} ` : ''}dev ${d}`).join(' | ');
}

function sourceLabel(p: PathReport): string {
  switch (p.kind) {
    case 'local':
      return 'sent by a local socket';
    case 'host-backend':
      return `sent locally by backend ${p.backend}`;
    case 'forwarded':
      return `forwarded from backend ${p.backend} received on ${p.question.iif}${p.mark ? ` with mark 0x${p.mark.toString(16)}` : ''}`;
    case 'destination-only':
      return 'no backend known: destination alone';
  }
}

function sourcesText(paths: PathReport[]): string {
  const fwd = [...new Set(paths.filter((x) => x.kind !== 'local' && x.kind !== 'destination-only').map((x) => x.backend))];
  return fwd.length > 0 ? `; replies of backend${fwd.length > 1 ? 's' : ''} ${fwd.join(', ')}` : '';
}

function clientLabel(p: PathReport): string {
  switch (p.clientKind) {
    case 'default-destination':
      return 'an address only the default route covers';
    case 'client-cidr':
      return `client CIDR ${p.cidr}`;
    case 'gateway':
      return 'a gateway';
    case 'observed':
      return 'a client seen in traffic';
  }
}
