// Runs iproute2's `ip` with argument arrays. It reads whatever network namespace it runs in; tests and the
// differential check may pass `netns` to aim it at a namespace with `ip -n`.

import { parseJsonText, parseRouteGet, parseRoutes, type RouteGetResult } from '../parsers/ip-json.js';
import type { Route } from '../model/host-state.js';
import type { KernelErrno, KernelOracle, RouteQuestion } from '../model/route-question.js';
import type { Family } from '../net/ip.js';
import { parseIp } from '../net/ip.js';
import { missingMessage } from './binaries.js';
import { EnvironmentError, runTool, type ToolResult } from './tool.js';
import { validateIfname, validateIp, validateMark, validateNetnsName } from './validate.js';

export { EnvironmentError } from './tool.js';

const IP_MISSING_MESSAGE = missingMessage('ip');

export interface IpRunnerOptions {
  netns?: string;
  /** Path or name of the binary; defaults to "ip". */
  binary?: string;
  timeoutMs?: number;
}

export type IpCommandResult = ToolResult;

export type KernelRouteAnswer = { ok: true; route: RouteGetResult } | { ok: false; errno: KernelErrno; message: string };

export type KernelFibAnswer = { ok: true; entry: Route } | { ok: false; errno: KernelErrno; message: string };

const ERRNO_TEXT: Array<[RegExp, KernelErrno]> = [
  [/Network is unreachable/, 'ENETUNREACH'],
  [/No route to host/, 'EHOSTUNREACH'],
  [/Permission denied/, 'EACCES'],
  [/Invalid argument/, 'EINVAL'],
  [/No such device|Cannot find device/, 'ENODEV'],
  [/Cannot assign requested address/, 'EADDRNOTAVAIL'],
];

function errnoFromStderr(stderr: string): KernelErrno {
  for (const [re, e] of ERRNO_TEXT) if (re.test(stderr)) return e;
  return 'OTHER';
}

export class IpRunner {
  readonly binary: string;
  private readonly prefix: string[];
  private readonly timeoutMs: number;

  constructor(opts: IpRunnerOptions = {}) {
    this.binary = opts.binary ?? 'ip';
    this.prefix = opts.netns ? ['-n', validateNetnsName(opts.netns)] : [];
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  run(args: readonly string[]): Promise<IpCommandResult> {
    return runTool(this.binary, [...this.prefix, ...args], { missing: IP_MISSING_MESSAGE, timeoutMs: this.timeoutMs });
  }

  async json(args: readonly string[]): Promise<unknown> {
    const r = await this.run(['-j', ...args]);
    const source = `ip -j ${args.join(' ')}`;
    if (r.exitCode !== 0) {
      throw new EnvironmentError(`${source} exited ${r.exitCode}: ${r.stderr.trim() || '(no message)'}`);
    }
    return parseJsonText(source, r.stdout);
  }

  /** `ip -j route get`: the kernel's own routing decision for one question. */
  async routeGet(q: RouteQuestion): Promise<KernelRouteAnswer> {
    const args = routeGetArgs(q);
    const r = await this.run(['-j', ...args]);
    if (r.exitCode !== 0) return { ok: false, errno: errnoFromStderr(r.stderr), message: r.stderr.trim() };
    return { ok: true, route: parseRouteGet(parseJsonText(`ip -j ${args.join(' ')}`, r.stdout), `ip -j ${args.join(' ')}`) };
  }

  /** `ip -j route get ... fibmatch`: the FIB entry (prefix, table, nexthops) the kernel matched. */
  async fibMatch(q: RouteQuestion): Promise<KernelFibAnswer> {
    const args = [...routeGetArgs(q), 'fibmatch'];
    const r = await this.run(['-j', ...args]);
    if (r.exitCode !== 0) return { ok: false, errno: errnoFromStderr(r.stderr), message: r.stderr.trim() };
    const family: Family = parseIp(q.dst)!.family;
    const routes = parseRoutes(parseJsonText(`ip -j ${args.join(' ')}`, r.stdout), family, `ip -j ${args.join(' ')}`);
    if (routes.length !== 1) throw new EnvironmentError(`ip -j ${args.join(' ')} printed ${routes.length} routes, expected 1`);
    return { ok: true, entry: routes[0]! };
  }
}

function routeGetArgs(q: RouteQuestion): string[] {
  const dst = validateIp(q.dst);
  const family: Family = parseIp(dst)!.family;
  const args = [`-${family}`, 'route', 'get', dst];
  if (q.src) args.push('from', validateIp(q.src));
  if (q.iif) args.push('iif', validateIfname(q.iif));
  if (q.oif) args.push('oif', validateIfname(q.oif));
  if (q.mark !== undefined && q.mark !== null) args.push('mark', String(validateMark(q.mark)));
  return args;
}

/** The kernel as the reply-path analysis's oracle. */
export function kernelOracle(ip: IpRunner): KernelOracle {
  return async (q) => {
    const a = await ip.routeGet(q);
    if (!a.ok) return { ok: false, errno: a.errno, message: a.message };
    return { ok: true, type: a.route.type, dev: a.route.dev, gateway: a.route.gateway };
  };
}
