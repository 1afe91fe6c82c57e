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
