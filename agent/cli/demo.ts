// `asymroute demo`: the Vagrant incident rebuilt in network namespaces, detected, proven, fixed and proven again.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { resolveConfig, UsageError } from '../config/load.js';
import { buildIncidentLab, type IncidentLab } from '../netns/incident-lab.js';
import { BACKEND_PORT, buildBackendLab, POD, SERVICE_PORT } from '../netns/backend-lab.js';
import { checkReportText, type CheckReportJson } from '../exposition/check-report.js';
import { NetnsLab, startTcpServer, tcpConnect, type TcpServer } from '../netns/netns.js';
import { EnvironmentError } from '../sources/ip-command.js';
import { consoleOutput, type Output } from './check.js';

export const DEMO_TAG = 'ardemo';
const PORT = 8443;

/** [node, bin/asymroute.js] of this installation, to run ourselves inside a namespace. */
export function selfCommand(): string[] {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const bin = join(dir, 'bin', 'asymroute.js');
    if (existsSync(join(dir, 'package.json')) && existsSync(bin)) return [process.execPath, bin];
    dir = dirname(dir);
  }
  throw new EnvironmentError('cannot find bin/asymroute.js above the installed code');
}

export async function runDemo(argv: string[], io: Output = consoleOutput): Promise<number> {
  const cfg = resolveConfig('demo', argv);
  if (cfg.positionals.length > 0)
    throw new UsageError(`unexpected argument ${JSON.stringify(cfg.positionals[0])} (see asymroute demo --help)`);
  if (process.getuid?.() !== 0)
    throw new EnvironmentError('asymroute demo builds network namespaces and must run as root (try: sudo asymroute demo)');
  const self = selfCommand();
  const reaped = await NetnsLab.reapStale(DEMO_TAG);
  if (reaped.length) io.out(`removed namespaces left by an interrupted demo: ${reaped.join(', ')}`);

  const netns = new NetnsLab(DEMO_TAG);
  let lab: IncidentLab | null = null;
  let server: TcpServer | null = null;
  let interrupted: Promise<never> | null = null;
  const cleanup = async () => {
    await server?.stop().catch(() => undefined);
    await netns.destroy();
  };
  // On Ctrl-C the namespaces go first; whatever the main flow was waiting for then fails, and waits for this too.
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    io.err(`\n${sig}: removing the demo namespaces...`);
    interrupted = cleanup().finally(() => process.exit(130)) as Promise<never>;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const step = (n: number, s: string) => io.out(`\n== ${n}. ${s}`);
  const pod = cfg.values.backend === 'pod';
  try {
    step(1, `building the incident in network namespaces${pod ? ", with the VIP DNAT'd to a pod" : ''}`);
    let l: IncidentLab;
    if (pod) {
      const b = await buildBackendLab(netns, 'local-pod', 'local');
      server = b.server;
      lab = l = b;
    } else {
      lab = l = await buildIncidentLab(netns);
      server = await startTcpServer(l.node, l.vip, PORT);
    }
    const port = pod ? SERVICE_PORT : PORT;
    io.out(
      [
        `   client ${l.clientIp} --- LAN router (192.168.1.254) --- eth1 [node] eth0 --- management NAT 192.168.121.1`,
        `   node: eth0 192.168.121.10/24 (default via 192.168.121.1), eth1 192.168.1.10/24, VIP ${l.vip} on eth1`,
        ...(pod
          ? [
              `   pod ${POD.pod} behind vethpod; iptables -t nat -A PREROUTING -d ${l.vip}/32 -p tcp --dport ${SERVICE_PORT} -j DNAT --to-destination ${POD.pod}:${BACKEND_PORT}`,
            ]
          : []),
        `   namespaces: ${netns.names().join(', ')}`,
      ].join('\n'),
    );

    let lastJson: CheckReportJson | null = null;
    // One run with --json: the text shown is what `check` prints for the same report (checkReportText).
    const check = async (): Promise<number> => {
      const args = ['check', '--vip', l.vip, '--client', l.clientCidr];
      io.out(`   $ ip netns exec ${l.node.name} asymroute ${args.join(' ')}`);
      const r = await execa('ip', ['netns', 'exec', l.node.name, ...self, ...args, '--json'], {
        reject: false,
        stdin: 'ignore',
        timeout: 60_000,
      });
      if (r.stderr) io.err(String(r.stderr));
      let report: CheckReportJson;
      try {
        report = JSON.parse(String(r.stdout)) as CheckReportJson;
      } catch {
        throw new EnvironmentError(`asymroute check in ${l.node.name} exited ${r.exitCode ?? '?'} without a report`);
      }
      lastJson = report;
      const { node, takenAt, source, vipSource } = report;
      io.out(checkReportText({ node, takenAt, source, vipSource }, report).replace(/^/gm, '   | '));
      return r.exitCode ?? -1;
    };
    const connect = async () => {
      io.out(`   $ ip netns exec ${l.client.name} <tcp connect ${l.vip}:${port}, 3 s timeout>`);
      const c = await tcpConnect(l.client, l.vip, port, 3000);
      io.out(c.ok ? `   connected in ${c.ms} ms, server said "${c.reply}"` : `   connection FAILED after ${c.ms} ms: ${c.error}`);
      return c;
    };
    // Commands as check printed them, run as an operator pasting them into a shell on the node.
    const run = async (cmds: string[]) => {
      for (const c of cmds) {
        io.out(`   $ ${c}`);
        await l.node.exec(['sh', '-c', c]);
      }
    };

    step(2, 'asymroute check inside the node namespace');
    const before = await check();
    const printed = (re: RegExp) =>
      lastJson?.findings.find((f) => f.type === 'asymmetric-reply-path')?.remediation.find((r) => re.test(r.title))?.commands ?? null;
    const fixes = {
      policy: printed(pod ? /^connmark policy routing \(iptables\)/ : /^policy routing: replies from/),
      'default-route': printed(/^move the default route to eth1$/),
    };
    step(3, 'proof: a real TCP connection from the client');
    const c1 = await connect();

    let wrongFixHeld = true;
    let n = 4;
    if (pod) {
      step(n++, 'the fix that works for a local socket: a "from VIP" rule (check did not print it, and says why)');
      await run([`ip rule add from ${l.vip} lookup 100 priority 32765`, `ip route add default via ${l.lanGateway} dev eth1 table 100`]);
      step(n++, "asymroute check after the from-VIP rule: the pod's replies still leave on eth0");
      const mid = await check();
      const c = await connect();
      wrongFixHeld = mid === 1 && !c.ok;
      await run([`ip rule del from ${l.vip} lookup 100 priority 32765`, 'ip route flush table 100']);
    }
    const fix = cfg.values.fix;
    const cmds = fixes[fix];
    step(
      n++,
      `applying the fix check printed (${fix === 'policy' ? (pod ? 'connmark policy routing' : 'policy routing') : 'default route moved to eth1'})`,
    );
    if (!cmds) throw new EnvironmentError(`check printed no "${fix}" fix; see its output above`);
    await run(cmds);
    step(n++, 'asymroute check after the fix');
    const after = await check();
    step(n++, 'proof: the same TCP connection');
    const c2 = await connect();

    const ok = before === 1 && !c1.ok && wrongFixHeld && after === 0 && c2.ok;
    io.out(
      `\n== ${ok ? 'demo complete: the finding matched the failure, and the fix cleared both' : 'demo did NOT behave as expected (see above)'}`,
    );
    return ok ? 0 : 1;
  } catch (e) {
    if (interrupted) return await interrupted;
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!interrupted) {
      if (cfg.values.keep && lab) {
        await server?.stop().catch(() => undefined);
        io.out(
          `namespaces kept (--keep): remove with: ${netns
            .names()
            .map((n) => `ip netns del ${n}`)
            .join('; ')}`,
        );
      } else {
        await cleanup();
        io.out('namespaces removed.');
      }
    }
  }
}
