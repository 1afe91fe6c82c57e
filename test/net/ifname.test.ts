import { describe, expect, it } from 'vitest';
import { isIfname } from '../../agent/net/ifname.js';

// Linux: IFNAMSIZ 16 bytes with the NUL, so 1 to 15 characters; '/', whitespace and ':' are not link names.
describe('isIfname', () => {
  it.each([
    'eth0',
    'a',
    'enp3s0f1',
    'bond0.100',
    'veth1@if3',
    'kube-ipvs0',
    '_x',
    'A0',
    'Z0',
    'z0',
    '0a',
    '9a',
    'xAZaz09_.@-',
    'abcdefghijklmno', // 15: the longest
  ])('accepts %s', (name) => {
    expect(isIfname(name)).toBe(true);
  });

  it.each([
    '',
    'abcdefghijklmnop', // 16: no room for the NUL
    '-eth0',
    '.eth0',
    '@eth0',
    ' eth0',
    'eth0 ',
    'eth 0',
    'eth0\n',
    'eth/0',
    'eth:0',
    'eth0:1',
    'ethé',
  ])('refuses %j', (name) => {
    expect(isIfname(name)).toBe(false);
  });

  it.each([[5], [null], [undefined], [['eth0']], [{ toString: () => 'eth0' }]])('refuses the non-string %j', (v) => {
    expect(isIfname(v)).toBe(false);
  });
});
