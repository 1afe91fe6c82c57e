import { describe, expect, it } from 'vitest';
import { canonicalIp, formatPrefix, parseIp, parsePrefix, prefixContains } from '../../agent/net/ip.js';

describe('parseIp / formatIp', () => {
  it.each([
    ['192.168.1.240', '192.168.1.240'],
    ['0.0.0.0', '0.0.0.0'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['fd00:0::1', 'fd00::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // RFC 5952: the longest zero run
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
  ])('%s -> %s', (input, out) => {
    expect(canonicalIp(input)).toBe(out);
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.-4',
    ' 1.2.3.4',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    'g::1',
    '12345::',
    'eth0',
    '1.2.3.4; rm -rf /',
    '-1.2.3.4',
  ])('rejects %j', (s) => {
    expect(parseIp(s)).toBeNull();
  });
});

describe('prefixes', () => {
  it('parses, normalises host bits and tests containment', () => {
    const p = parsePrefix('192.168.1.77/24')!;
    expect(formatPrefix(p)).toBe('192.168.1.0/24');
    expect(prefixContains(p, parseIp('192.168.1.240')!)).toBe(true);
    expect(prefixContains(p, parseIp('192.168.2.1')!)).toBe(false);
    expect(prefixContains(p, parseIp('::1')!)).toBe(false);
    expect(parsePrefix('default', 6)).toEqual({ family: 6, value: 0n, len: 0 });
    expect(parsePrefix('default')).toBeNull();
    expect(parsePrefix('10.0.0.0/33')).toBeNull();
    expect(parsePrefix('2001:db8::/129')).toBeNull();
    expect(prefixContains(parsePrefix('2001:db8::/32')!, parseIp('2001:db8:ffff::1')!)).toBe(true);
  });
});
