// Composition root: dispatches a command and maps errors to exit codes (0 healthy, 1 findings, 2 usage/environment).

// Each command's module is imported when that command runs: `--help` and `analyze` never load fastify, prom-client,
// the Kubernetes client or execa.

import { readFileSync } from 'node:fs';
import type { Output } from './cli/check.js';
import { colourWanted } from './cli/colour.js';
import { helpText, UsageError } from './config/load.js';
import { InvalidArgumentError } from './sources/validate.js';
import { EnvironmentError } from './sources/tool.js';
import { IpJsonError } from './parsers/ip-json.js';
import { VipSpecError } from './analysis/vips.js';

const consoleOutput: Output = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
  get colour() {
    return colourWanted();
  },
};

export const COMMANDS = {
  check: {
    brief: 'one-shot reply-path check of this host (or of a saved snapshot)',
    usage: 'asymroute check [--vip IP[@IFACE]]... [--client CIDR]... [--json]',
    summary:
      'One-shot: for each VIP, find where its requests arrive and ask the kernel (ip route get CLIENT from VIP) where the replies leave; ' +
      'explain the decision with the route model and print the fixes.\nExit 0: healthy; 1: critical or warning findings; 2: usage or environment error.',
  },
  analyze: {
    brief: 'report from a packet capture (pcap/pcapng): ingress vs egress per flow, unanswered SYNs',
    usage: 'asymroute analyze FILE [--vip IP]... [--links links.json] [--snapshot snapshot.json] [--json]',
    summary:
      'Offline: read a pcap or pcapng capture (best: tcpdump -i any -y LINUX_SLL2), match requests to VIPs with their replies, and report per VIP ' +
      'where flows came in and where their replies went out, and which SYNs nobody answered. No root needed.\nExit 0: no findings; 1: findings; 2: usage error.',
  },
  serve: {
    brief: 'the node agent: HTTP report, Prometheus metrics, periodic and change-triggered checks, live capture',
    usage: 'asymroute serve [--vip IP[@IFACE]]... [--listen ADDRESS] [--port PORT] [--interval SECONDS] [--capture=false]',
    summary:
      'The node agent: the static check on start, every --interval seconds and within a second of a routing change; the packet capture ' +
      'running continuously; GET / (report for curl), /healthz, /readyz, /metrics, /v1/findings, /v1/vips, /v1/flows, /v1/routes, /v1/capture. ' +
      'Logs JSON lines. SIGTERM stops the capture and the monitor and closes the server.',
  },
  'config-schema': {
    brief: 'print the JSON Schema of the config file',
    usage: 'asymroute config-schema > asymroute.schema.json',
    summary:
      "Print the JSON Schema (draft-07) of the serve config file (/etc/asymroute/config.yaml): every key with its type, bounds, default and help. The Helm chart's values.schema.json carries the same under `config`.",
  },
  completion: {
    brief: 'print a shell completion script (bash, zsh, fish)',
    usage: 'source <(asymroute completion bash)   |   source <(asymroute completion zsh)   |   asymroute completion fish | source',
    summary:
      'Print a shell completion script for bash, zsh or fish, generated from the options of each command (flags, short aliases, the values of options with a fixed set, files for FILE options).',
  },
  cluster: {
    brief: 'every node in one table: who announces each VIP, its ingress, static and live verdicts, findings',
    usage: 'asymroute cluster [-n NAMESPACE] [-l SELECTOR] [-o table|json] [--context NAME]   (also: kubectl asymroute ...)',
    summary:
      "With your kubeconfig: find the agent pods by label, read each agent's report through the API server's pod proxy, and print one " +
      'table of VIP x node (who announces it, where requests arrive, the static and live verdicts, the findings) and one of the nodes, ' +
      "those without an agent or whose agent did not answer included. Needs list pods and nodes, get pods/proxy, and create on the agents' " +
      "reader service account token (the chart's <release>-cluster-viewer roles).\nExit 0: every agent answered, none has critical or warning findings; " +
      '1: otherwise; 2: usage or environment error (no kubeconfig, API unreachable, no agent pods).',
  },
  snapshot: {
    brief: 'print the host state as JSON',
    usage: 'asymroute snapshot > snapshot.json',
    summary: 'Print the host state (links, addresses, routes, rules, neighbours, sysctls) as JSON, for `asymroute check --snapshot`.',
  },
  demo: {
    brief: 'rebuild the Vagrant incident in network namespaces and show detection and fix (root)',
    usage: 'asymroute demo [--fix policy|default-route] [--keep]',
    summary:
      'As root: build the Vagrant incident in network namespaces, detect it, prove it with a TCP connection, fix it, and prove the fix. Everything is removed at the end, also on Ctrl-C.',
  },
} as const;

/** The version and source revision `npm run build` recorded (scripts/build-info.mjs). */
export function buildInfo(): { version: string; revision: string } {
  try {
    const b = JSON.parse(readFileSync(new URL('../build-info.json', import.meta.url), 'utf8')) as { version?: unknown; revision?: unknown };
    return {
      version: typeof b.version === 'string' ? b.version : 'unknown',
      revision: typeof b.revision === 'string' ? b.revision : 'unknown',
    };
  } catch {
    return { version: 'unknown', revision: 'unknown' };
  }
}

function usage(): string {
  return [
    'usage: asymroute <command> [options]',
    '',
    'Checks that replies for load-balancer VIPs leave on the interface the requests arrived on.',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(14)} ${c.brief}`),
    '',
    'asymroute <command> --help shows the options of a command.',
  ].join('\n');
}

export async function main(argv: string[], io: Output = consoleOutput): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    io.out(usage());
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version' || cmd === 'version') {
    const b = buildInfo();
    io.out(`asymroute ${b.version} (revision ${b.revision}, Node ${process.versions.node})`);
    return 0;
  }
  if (!(cmd in COMMANDS)) {
    io.err(`asymroute: unknown command ${JSON.stringify(cmd)}\n\n${usage()}`);
    return 2;
  }
  const c = cmd as keyof typeof COMMANDS;
  if (rest.includes('-h') || rest.includes('--help')) {
    io.out(
      c === 'snapshot' || c === 'config-schema' || c === 'completion'
        ? `usage: ${COMMANDS[c].usage}\n\n${COMMANDS[c].summary}`
        : helpText(c, COMMANDS[c].summary, COMMANDS[c].usage),
    );
    return 0;
  }
  if (c === 'completion') {
    const { completionScript, SHELLS } = await import('./cli/completion.js');
    const shell = rest[0];
    if (rest.length !== 1 || !(SHELLS as readonly string[]).includes(shell!)) {
      io.err(`asymroute completion: expected one of ${SHELLS.join(', ')}, got ${rest.length ? JSON.stringify(rest.join(' ')) : 'nothing'}`);
      return 2;
    }
    const list = Object.fromEntries(Object.entries(COMMANDS).map(([name, x]) => [name, x.brief]));
    io.out(completionScript(shell as (typeof SHELLS)[number], list));
    return 0;
  }
  if (c === 'config-schema') {
    if (rest.length > 0) {
      io.err(`asymroute config-schema: unexpected argument ${JSON.stringify(rest[0])}`);
      return 2;
    }
    const { configJsonSchema } = await import('./config/json-schema.js');
    io.out(JSON.stringify(configJsonSchema('serve'), null, 2));
    return 0;
  }
  try {
    if (c === 'check') return await (await import('./cli/check.js')).runCheck(rest, io);
    if (c === 'snapshot') return await (await import('./cli/check.js')).runSnapshot(rest, io);
    if (c === 'analyze') return await (await import('./cli/analyze.js')).runAnalyze(rest, io);
    if (c === 'cluster') return await (await import('./cli/cluster.js')).runCluster(rest, io);
    if (c === 'serve') return await (await import('./cli/serve.js')).runServe(rest, io, buildInfo().version, buildInfo().revision);
    return await (await import('./cli/demo.js')).runDemo(rest, io);
  } catch (e) {
    if (e instanceof UsageError || e instanceof InvalidArgumentError || e instanceof VipSpecError) {
      io.err(`asymroute ${c}: ${e.message}`);
      return 2;
    }
    if (e instanceof EnvironmentError || e instanceof IpJsonError) {
      io.err(`asymroute ${c}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
