import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helpText, resolveConfig, UsageError } from '../../agent/config/load.js';
import { OPTIONS } from '../../agent/config/schema.js';
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
    expect(() => resolveConfig('check', [], { ASYMROUTE_VIPS: '1.2.3.4,nope' })).toThrow(/environment ASYMROUTE_VIPS: invalid value "nope" for --vip/);
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
});
