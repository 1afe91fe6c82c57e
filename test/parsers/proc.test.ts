import { expect, it } from 'vitest';
import { parseNetstat } from '../../agent/parsers/proc.js';

it('reads TcpExt counters by name and skips lines out of step', () => {
  const text = 'TcpExt: SyncookiesSent IPReversePathFilter\nTcpExt: 0 42\nIpExt: InNoRoutes\nBroken: 3\nMPTcpExt: A B\nMPTcpExt: 1\n';
  const t = parseNetstat(text);
  expect(t['TcpExt']).toEqual({ SyncookiesSent: 0, IPReversePathFilter: 42 });
  expect(t['IpExt']).toBeUndefined();
  expect(t['MPTcpExt']).toBeUndefined();
  expect(parseNetstat('')).toEqual({});
});

it('reads every table of /proc/net/snmp, negative values included', () => {
  const text = [
    'Ip: Forwarding DefaultTTL InReceives',
    'Ip: 1 64 123',
    'Icmp: InMsgs InErrors',
    'Icmp: 45 0',
    'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn',
    'Tcp: 1 200 120000 -1',
    '',
  ].join('\n');
  expect(parseNetstat(text)).toEqual({
    Ip: { Forwarding: 1, DefaultTTL: 64, InReceives: 123 },
    Icmp: { InMsgs: 45, InErrors: 0 },
    Tcp: { RtoAlgorithm: 1, RtoMin: 200, RtoMax: 120000, MaxConn: -1 },
  });
});

it('ignores blank lines and runs of spaces or tabs, and drops values that are not numbers', () => {
  expect(parseNetstat('\n  \nX:  A\tB  C \n\n\t\nX: 1   2\tabc\n')).toEqual({ X: { A: 1, B: 2 } });
});

it('skips pairs with no prefix, no colon or a different number of values, and a last line without its pair', () => {
  expect(parseNetstat(': A B\n: 1 2\n')).toEqual({});
  expect(parseNetstat('A B\n1 2\n')).toEqual({});
  expect(parseNetstat('X: A B\nX: 1\nY: C\nY: 3 4\n')).toEqual({});
  expect(parseNetstat('X: A\nX: 1\nY: B\n')).toEqual({ X: { A: 1 } });
  expect(parseNetstat('X: A\n')).toEqual({});
});
