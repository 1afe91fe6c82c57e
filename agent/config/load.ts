// Resolves configuration: flag > environment > config file > default, failing fast with the bad value quoted.

import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { optionsFor, type Command, type ConfigFor, type OptionSpec } from './schema.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type ConfigValues = Record<string, string | string[] | boolean | number | null>;

export type Origin = 'flag' | 'env' | 'file' | 'default';

/** A command's configuration; for a union of commands, the part they share. */
export interface Resolved<C extends Command = Command> {
  values: ConfigFor<C>;
  /** where each key's value came from */
  origin: Record<keyof ConfigFor<C>, Origin>;
  configFile: string | null;
  positionals: string[];
}

function checkValue(o: OptionSpec, v: string, where: string): void {
  const err = o.check?.(v);
  if (err) throw new UsageError(`${where}: invalid value ${JSON.stringify(v)} for ${o.flag}: ${err}`);
}

function parseInteger(o: OptionSpec, v: string, where: string): number {
  const n = /^-?[0-9]+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || (o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
    throw new UsageError(
      `${where}: invalid value ${JSON.stringify(v)} for ${o.flag}: expected an integer from ${o.min ?? '-inf'} to ${o.max ?? 'inf'}`,
    );
  }
  return n;
}

function parseBool(o: OptionSpec, v: string, where: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new UsageError(`${where}: invalid value ${JSON.stringify(v)} for ${o.flag}: expected true or false`);
}

export function parseArgs(cmd: Command, argv: string[]): { flags: ConfigValues; positionals: string[] } {
  const opts = optionsFor(cmd);
  const flags: ConfigValues = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    // -p 9000, -p9000, -p=9000: a one-letter alias stands for its long flag.
    const short = /^-([A-Za-z])(=?)(.*)$/.exec(a);
    if (!a.startsWith('--') && !short) {
      positionals.push(a);
      continue;
    }
    let eq = a.indexOf('=');
    let name = eq === -1 ? a : a.slice(0, eq);
    let arg = a;
    if (short) {
      const alias = opts.find((x) => x.short === short[1]);
      if (!alias)
        throw new UsageError(`unknown option ${JSON.stringify(`-${short[1]}`)} for "asymroute ${cmd}" (see asymroute ${cmd} --help)`);
      name = alias.flag;
      arg = short[2] || short[3] ? `${alias.flag}=${short[3]}` : alias.flag;
      eq = arg.indexOf('=');
    }
    const o = opts.find((x) => x.flag === name);
    if (!o) throw new UsageError(`unknown option ${JSON.stringify(name)} for "asymroute ${cmd}" (see asymroute ${cmd} --help)`);
    if (o.type === 'boolean') {
      flags[o.key] = eq === -1 ? true : parseBool(o, arg.slice(eq + 1), 'command line');
      continue;
    }
    let v: string;
    if (eq !== -1) v = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${o.flag} needs a value (${o.metavar ?? 'VALUE'})`);
      v = next;
      i++;
    }
    if (o.type === 'integer') {
      flags[o.key] = parseInteger(o, v, 'command line');
      continue;
    }
    checkValue(o, v, 'command line');
    if (o.type === 'list') flags[o.key] = [...((flags[o.key] as string[] | undefined) ?? []), v];
    else flags[o.key] = v;
  }
  return { flags, positionals };
}

function fromEnv(o: OptionSpec, env: NodeJS.ProcessEnv): string | string[] | boolean | number | undefined {
  const raw = env[o.env];
  if (raw === undefined || raw === '') return undefined;
  const where = `environment ${o.env}`;
  if (o.type === 'boolean') return parseBool(o, raw, where);
  if (o.type === 'integer') return parseInteger(o, raw, where);
  if (o.type === 'list') {
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    items.forEach((v) => checkValue(o, v, where));
    return items;
  }
  checkValue(o, raw, where);
  return raw;
}

function fromFile(o: OptionSpec, doc: Record<string, unknown>, file: string): string | string[] | boolean | number | undefined {
  if (!(o.key in doc)) return undefined;
  const v = doc[o.key];
  const where = `${file}: key ${o.key}`;
  if (o.type === 'integer') {
    if (typeof v !== 'number') throw new UsageError(`${where}: expected an integer, got ${JSON.stringify(v)}`);
    return parseInteger(o, String(v), where);
  }
  if (o.type === 'boolean') {
    if (typeof v !== 'boolean') throw new UsageError(`${where}: expected true or false, got ${JSON.stringify(v)}`);
    return v;
  }
  if (o.type === 'list') {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
      throw new UsageError(`${where}: expected a list of strings, got ${JSON.stringify(v)}`);
    v.forEach((x) => checkValue(o, x, where));
    return v as string[];
  }
  if (v === null && o.default === null) return undefined; // "not set", as the default says
  if (typeof v !== 'string') throw new UsageError(`${where}: expected a string, got ${JSON.stringify(v)}`);
  checkValue(o, v, where);
  return v;
}

export function resolveConfig<C extends Command>(cmd: C, argv: string[], env: NodeJS.ProcessEnv = process.env): Resolved<C> {
  const opts = optionsFor(cmd);
  const { flags, positionals } = parseArgs(cmd, argv);
  const values: ConfigValues = {};
  const origin: Record<string, Origin> = {};
  let configFile: string | null = null;
  let doc: Record<string, unknown> = {};
  const cfgOpt = opts.find((o) => o.key === 'config');
  if (cfgOpt) {
    const explicit = (flags['config'] as string | undefined) ?? (fromEnv(cfgOpt, env) as string | undefined);
    const path = explicit ?? (cfgOpt.default as string);
    if (existsSync(path)) {
      let parsed: unknown;
      try {
        // yaml is loaded only when a config file exists: a command without one starts without it.
        const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
        parsed = parse(readFileSync(path, 'utf8'));
      } catch (e) {
        throw new UsageError(`config file ${path}: ${(e as Error).message}`);
      }
      if (parsed !== null && parsed !== undefined) {
        if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`config file ${path}: expected a mapping of keys`);
        doc = parsed as Record<string, unknown>;
        const known = new Set(opts.map((o) => o.key));
        for (const k of Object.keys(doc))
          if (!known.has(k))
            throw new UsageError(`config file ${path}: unknown key ${JSON.stringify(k)} (known: ${[...known].join(', ')})`);
      }
      configFile = path;
    } else if (explicit) {
      throw new UsageError(`config file ${JSON.stringify(explicit)} does not exist`);
    }
  }
  for (const o of opts) {
    if (o.key in flags) {
      values[o.key] = flags[o.key]!;
      origin[o.key] = 'flag';
      continue;
    }
    const e = fromEnv(o, env);
    if (e !== undefined) {
      values[o.key] = e;
      origin[o.key] = 'env';
      continue;
    }
    const f = configFile ? fromFile(o, doc, configFile) : undefined;
    if (f !== undefined) {
      values[o.key] = f;
      origin[o.key] = 'file';
      continue;
    }
    // A copy: a caller that changes its list must not change the schema's default.
    values[o.key] = typeof o.default === 'object' && o.default !== null ? [...o.default] : o.default;
    origin[o.key] = 'default';
  }
  // Every option of the command got a value of its type above (parsed by o.type, or its default): the shape ConfigFor<C> describes.
  return { values: values as ConfigFor<C>, origin: origin as Resolved<C>['origin'], configFile, positionals };
}

export function helpText(cmd: Command, summary: string, usage: string): string {
  const lines = [`usage: ${usage}`, '', summary, '', 'options:'];
  for (const o of optionsFor(cmd)) {
    const left = `  ${o.short ? `-${o.short}, ` : ''}${o.flag}${o.metavar ? ` ${o.metavar}` : ''}`;
    const def = Array.isArray(o.default)
      ? o.default.length
        ? o.default.join(',')
        : null
      : o.default === false || o.default === null
        ? null
        : String(o.default);
    lines.push(left);
    lines.push(`      ${o.help}`);
    lines.push(`      env ${o.env}${def ? `; default ${def}` : ''}`);
  }
  lines.push('  -h, --help');
  return lines.join('\n');
}
