import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { helpText, resolveConfig, UsageError } from '../../agent/config/load.js';
import { OPTIONS, optionsFor, type Command } from '../../agent/config/schema.js';
import { tempDir } from '../helpers/tmp.js';

const NO_FILE = { ASYMROUTE_CONFIG: '' };
const tmp = () => tempDir('cfg');

describe('resolveConfig', () => {
  it('flag > env > file > default', () => {
    const dir = tmp();
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'vips: [192.168.1.240]\nclients: [203.0.113.0/24]\njson: true\n');
    const env = { ASYMROUTE_CLIENTS: '198.51.100.0/24,192.0.2.0/24' };
    const r = resolveConfig('check', ['--config', file, '--vip', '10.0.0.1@eth1'], env);
    expect(r.values['vips']).toEqual(['10.0.0.1@eth1']);
    expect(r.origin['vips']).toBe('flag');
    expect(r.values['clients']).toEqual(['198.51.100.0/24', '192.0.2.0/24']);
    expect(r.origin['clients']).toBe('env');
    expect(r.values['json']).toBe(true);
    expect(r.origin['json']).toBe('file');
    expect(r.values['managementCidrs']).toEqual(OPTIONS.find((o) => o.key === 'managementCidrs')!.default);
    expect(r.configFile).toBe(file);
  });

  it.each([
    [['--vip', '192.168.1.999'], /command line: invalid value "192\.168\.1\.999" for --vip/],
    [['--vip', '10.0.0.1@eth0;reboot'], /invalid value "10\.0\.0\.1@eth0;reboot" for --vip: the part after @ must be an interface name/],
    [['--client', '10.0.0.0'], null],
    [['--client', 'lan'], /invalid value "lan" for --client/],
    [['--gateway', 'eth1'], /invalid value "eth1" for --gateway: expected INTERFACE=ADDRESS/],
    [['--vip'], /--vip needs a value/],
    [['--frobnicate'], /unknown option "--frobnicate"/],
    [['--json=maybe'], /invalid value "maybe" for --json/],
  ])('%j', (argv, msg) => {
    if (msg === null) expect(() => resolveConfig('check', argv, NO_FILE)).not.toThrow();
    else expect(() => resolveConfig('check', argv, NO_FILE)).toThrow(msg);
  });

  it('quotes bad environment and file values', () => {
    expect(() => resolveConfig('check', [], { ASYMROUTE_VIPS: '1.2.3.4,nope' })).toThrow(
      /environment ASYMROUTE_VIPS: invalid value "nope" for --vip/,
    );
    const dir = tmp();
    const f1 = join(dir, 'a.yaml');
    writeFileSync(f1, 'vips: 192.168.1.240\n');
    expect(() => resolveConfig('check', ['--config', f1], {})).toThrow(/key vips: expected a list of strings, got "192\.168\.1\.240"/);
    const f2 = join(dir, 'b.yaml');
    writeFileSync(f2, 'vipz: []\n');
    expect(() => resolveConfig('check', ['--config', f2], {})).toThrow(/unknown key "vipz"/);
    const f3 = join(dir, 'c.yaml');
    writeFileSync(f3, 'vips: [1.2.3.4\n');
    expect(() => resolveConfig('check', ['--config', f3], {})).toThrow(UsageError);
    expect(() => resolveConfig('check', ['--config', join(dir, 'missing.yaml')], {})).toThrow(/does not exist/);
  });

  it('help text lists every option of the command with its env var', () => {
    const h = helpText('check', 'summary', 'usage');
    for (const o of OPTIONS.filter((x) => x.commands.includes('check'))) {
      expect(h).toContain(o.flag);
      expect(h).toContain(o.env);
    }
    expect(h).not.toContain('--keep');
  });

  it("types each command's values by the schema, and every resolved value has that type at run time", () => {
    const serve = resolveConfig('serve', [], NO_FILE).values;
    expectTypeOf(serve.interval).toEqualTypeOf<number>();
    expectTypeOf(serve.capture).toEqualTypeOf<boolean>();
    expectTypeOf(serve.vips).toEqualTypeOf<string[]>();
    expectTypeOf(serve.listen).toEqualTypeOf<string>();
    expectTypeOf(serve.kubeconfig).toEqualTypeOf<string | null>();
    expectTypeOf(serve.kubernetes).toEqualTypeOf<'auto' | 'on' | 'off'>();
    expectTypeOf(resolveConfig('demo', [], NO_FILE).values.fix).toEqualTypeOf<'policy' | 'default-route'>();
    expectTypeOf(resolveConfig('check', [], NO_FILE).values).not.toHaveProperty('port');
    const commands: Command[] = ['check', 'analyze', 'serve', 'demo', 'snapshot', 'cluster'];
    for (const cmd of commands) {
      const { values } = resolveConfig(cmd, [], NO_FILE);
      const byKey = values as Record<string, unknown>;
      expect(Object.keys(values).sort()).toEqual(
        optionsFor(cmd)
          .map((o) => o.key)
          .sort(),
      );
      for (const o of optionsFor(cmd)) {
        const v = byKey[o.key];
        const ok =
          o.type === 'list'
            ? Array.isArray(v) && v.every((x) => typeof x === 'string')
            : o.type === 'integer'
              ? Number.isSafeInteger(v)
              : o.type === 'boolean'
                ? typeof v === 'boolean'
                : typeof v === 'string' || (v === null && o.default === null);
        expect(ok, `${cmd} ${o.key}: ${JSON.stringify(v)}`).toBe(true);
        if (o.choices) expect(o.choices).toContain(v);
      }
    }
  });

  it('gives each run its own copy of a list default', () => {
    const a = resolveConfig('check', [], NO_FILE).values.managementCidrs;
    a.push('192.0.2.0/24');
    expect(resolveConfig('check', [], NO_FILE).values.managementCidrs).not.toContain('192.0.2.0/24');
  });
});

describe('short aliases', () => {
  it('stand for their long flag, with the value after a space, attached or after =', () => {
    const env = { ASYMROUTE_CONFIG: '' };
    const v = resolveConfig('serve', ['-p', '9000', '-l', '0.0.0.0', '-i5'], env).values;
    expect([v.port, v.listen, v.interval]).toEqual([9000, '0.0.0.0', 5]);
    expect(resolveConfig('serve', ['-p=9001'], env).values.port).toBe(9001);
    const c = resolveConfig('check', ['-j', '-s', '/tmp/x.json'], env);
    expect([c.values.json, c.values.snapshot]).toEqual([true, '/tmp/x.json']);
    expect(() => resolveConfig('serve', ['-x'], env)).toThrow('unknown option "-x" for "asymroute serve"');
    expect(() => resolveConfig('analyze', ['-p', '1'], env)).toThrow('unknown option "-p" for "asymroute analyze"');
    expect(() => resolveConfig('serve', ['-p', 'many'], env)).toThrow('invalid value "many" for --port');
    // A lone dash stays a positional (stdin, where a command takes a file).
    expect(resolveConfig('analyze', ['-'], env).positionals).toEqual(['-']);
  });

  it('are one letter, unique within each command, not -h, and shown in the help', () => {
    const commands: Command[] = ['check', 'analyze', 'serve', 'demo', 'snapshot', 'cluster'];
    for (const cmd of commands) {
      const shorts = optionsFor(cmd).flatMap((o) => (o.short ? [o.short] : []));
      expect(new Set(shorts).size, cmd).toBe(shorts.length);
      for (const s of shorts) expect(s).toMatch(/^[A-Za-gi-z]$/);
    }
    expect(OPTIONS.filter((o) => o.short).map((o) => `-${o.short} ${o.flag}`)).toEqual(
      expect.arrayContaining(['-p --port', '-l --listen', '-i --interval', '-j --json', '-c --config', '-s --snapshot']),
    );
    expect(helpText('serve', 's', 'u')).toMatch(/^ {2}-p, --port PORT$/m);
  });
});
