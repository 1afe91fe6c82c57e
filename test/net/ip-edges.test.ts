// agent/net/ip.ts at its edges: textual forms RFC 4291 2.2 allows or not, RFC 5952 compression ties, prefix
// lengths, and the special ranges (RFC 3927 169.254/16, RFC 4291 fe80::/10, 127/8, ::1, 224/4, ff00::/8).

import { describe, expect, it } from 'vitest';
import {
  addressInPrefix,
  bitsOf,
  canonicalIp,
  formatIp,
  formatPrefix,
  formatV6Groups,
  ipEquals,
  isLinkLocal,
  isLoopback,
  isMulticast,
  isUnspecified,
  makePrefix,
  parseIp,
  parsePrefix,
  prefixContains,
} from '../../agent/net/ip.js';

const ip = (s: string) => {
  const a = parseIp(s);
  if (!a) throw new Error(`not an address: ${s}`);
  return a;
};

describe('address text', () => {
  it.each([
    ['0000:0000:0000:0000:0000:ffff:255.255.255.255', '::ffff:ffff:ffff'], // 45 characters: the longest form
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['::1.2.3.4', '::102:304'],
    ['ABCD:ef01::', 'abcd:ef01::'],
    ['255.255.255.255', '255.255.255.255'],
    ['10.0.0.1', '10.0.0.1'],
    ['199.0.9.90', '199.0.9.90'],
  ])('%s is %s', (s, out) => {
    expect(canonicalIp(s)).toBe(out);
  });

  it.each([
    ['1:2:3:4:5:6:7::8', 'nine groups with ::'],
    ['1:2:3:4:5:6:7', 'seven groups without ::'],
    ['1:2:3:4:5:6:7:8:9', 'nine groups'],
    ['1.2.3.4::', 'an IPv4 part before ::'],
    ['::1.2.3.4:1', 'an IPv4 part not last'],
    ['1:2:3:4:5:6:7:1.2.3.4', 'an IPv4 part making nine groups'],
    ['::1.2.3', 'a short IPv4 part'],
    [':1::', 'a lone leading colon'],
    ['1::2:', 'a lone trailing colon'],
    [':::', 'three colons'],
    ['1:::2', 'three colons inside'],
    ['1:2:3:4:5:6:7:8 ', 'a trailing space'],
    ['00000::', 'five hex digits'],
    ['1.2.3.04', 'a leading zero'],
    ['1.2.3.256', 'a byte above 255'],
    ['1.2.3.1000', 'four digits'],
    ['1.2.3.', 'an empty byte'],
    ['1.2.3.4 ', 'a trailing space'],
    ['1..3.4', 'an empty byte inside'],
  ])('refuses %s (%s)', (s) => {
    expect(parseIp(s)).toBeNull();
  });

  it('refuses what is not a string', () => {
    expect(parseIp(5 as unknown as string)).toBeNull();
    expect(canonicalIp('x')).toBeNull();
  });

  it('gives families and values', () => {
    expect(parseIp('1.2.3.4')).toEqual({ family: 4, value: 0x01020304n });
    expect(parseIp('::1:2')).toEqual({ family: 6, value: 0x10002n });
    expect(bitsOf(4)).toBe(32);
    expect(bitsOf(6)).toBe(128);
    expect(formatIp({ family: 4, value: 0xc0a80001n })).toBe('192.168.0.1');
    expect(formatIp({ family: 6, value: 0x20010db8n << 96n })).toBe('2001:db8::');
  });
});

describe('formatV6Groups (RFC 5952)', () => {
  it.each([
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[1, 0, 0, 2, 0, 0, 0, 3], '1:0:0:2::3'], // the longest run
    [[1, 0, 0, 2, 0, 0, 3, 4], '1::2:0:0:3:4'], // the first of equal runs
    [[1, 0, 2, 3, 4, 5, 6, 7], '1:0:2:3:4:5:6:7'], // one zero group is not compressed
    [[0, 1, 2, 3, 4, 5, 6, 0], '0:1:2:3:4:5:6:0'],
    [[1, 2, 3, 4, 5, 6, 0, 0], '1:2:3:4:5:6::'],
    [[0, 0, 1, 2, 3, 4, 5, 6], '::1:2:3:4:5:6'],
    [[0xabcd, 0, 0, 0, 0, 0, 0, 0xffff], 'abcd::ffff'],
  ])('%j -> %s', (g, out) => {
    expect(formatV6Groups(g)).toBe(out);
  });
});

describe('prefixes', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3/32'],
    ['10.1.2.3/0', 'default'],
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['10.1.2.3/31', '10.1.2.2/31'],
    ['2001:db8::1', '2001:db8::1/128'],
    ['2001:db8::1/127', '2001:db8::/127'],
    ['::/0', 'default'],
  ])('%s is %s', (s, out) => {
    expect(formatPrefix(parsePrefix(s)!)).toBe(out);
  });

  it.each(['10.0.0.0/', '10.0.0.0/01', '10.0.0.0/-1', '10.0.0.0/1000', '10.0.0.0/33', '::/129', 'x/8', 'all'])('refuses %s', (s) => {
    expect(parsePrefix(s)).toBeNull();
  });

  it('reads default and all only with a family', () => {
    expect(parsePrefix('all', 4)).toEqual({ family: 4, value: 0n, len: 0 });
    expect(parsePrefix('default', 4)).toEqual({ family: 4, value: 0n, len: 0 });
  });

  it('contains by prefix length and family', () => {
    const p = parsePrefix('192.168.1.128/25')!;
    expect(prefixContains(p, ip('192.168.1.128'))).toBe(true);
    expect(prefixContains(p, ip('192.168.1.255'))).toBe(true);
    expect(prefixContains(p, ip('192.168.1.127'))).toBe(false);
    expect(prefixContains(parsePrefix('0.0.0.0/0')!, ip('255.255.255.255'))).toBe(true);
    expect(prefixContains(parsePrefix('0.0.0.0/0')!, ip('::'))).toBe(false);
    expect(prefixContains(parsePrefix('::/0')!, ip('0.0.0.0'))).toBe(false);
    expect(prefixContains(parsePrefix('fe80::/10')!, ip('febf::1'))).toBe(true);
    expect(prefixContains(parsePrefix('fe80::/10')!, ip('fec0::1'))).toBe(false);
  });

  it('zeroes host bits and places offsets inside the prefix', () => {
    expect(makePrefix(ip('10.1.2.3'), 16)).toEqual({ family: 4, value: 0x0a010000n, len: 16 });
    expect(makePrefix(ip('2001:db8::ff'), 120)).toEqual({ family: 6, value: 0x20010db8n << 96n, len: 120 });
    const p = parsePrefix('10.1.2.0/24')!;
    expect(formatIp(addressInPrefix(p, 5n))).toBe('10.1.2.5');
    expect(formatIp(addressInPrefix(p, 261n))).toBe('10.1.2.5'); // the offset wraps inside the prefix
    expect(formatIp(addressInPrefix(parsePrefix('2001:db8::/64')!, 1n))).toBe('2001:db8::1');
  });
});

describe('address kinds', () => {
  it.each([
    ['169.254.0.0', true],
    ['169.254.255.255', true],
    ['169.253.255.255', false],
    ['169.255.0.0', false],
    ['fe80::1', true],
    ['febf:ffff::1', true],
    ['fec0::1', false],
    ['fe7f::1', false],
  ])('link-local %s: %s', (s, v) => {
    expect(isLinkLocal(ip(s))).toBe(v);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['126.255.255.255', false],
    ['128.0.0.1', false],
    ['::1', true],
    ['::2', false],
    ['::', false],
    ['0.0.0.1', false],
  ])('loopback %s: %s', (s, v) => {
    expect(isLoopback(ip(s))).toBe(v);
  });

  it.each([
    ['224.0.0.1', true],
    ['239.255.255.255', true],
    ['223.255.255.255', false],
    ['240.0.0.0', false],
    ['ff02::1', true],
    ['ff00::', true],
    ['feff::1', false],
  ])('multicast %s: %s', (s, v) => {
    expect(isMulticast(ip(s))).toBe(v);
  });

  it('unspecified and equality', () => {
    expect(isUnspecified(ip('0.0.0.0'))).toBe(true);
    expect(isUnspecified(ip('::'))).toBe(true);
    expect(isUnspecified(ip('0.0.0.1'))).toBe(false);
    expect(ipEquals(ip('::1'), ip('0:0::1'))).toBe(true);
    expect(ipEquals(ip('0.0.0.1'), ip('::1'))).toBe(false);
    expect(ipEquals(ip('10.0.0.1'), ip('10.0.0.2'))).toBe(false);
  });
});
