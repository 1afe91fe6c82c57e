import { describe, expect, it } from 'vitest';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../../agent/net/kube-name.js';

// RFC 1123 as the API server checks it: a label is 1-63 of [a-z0-9-], starting and ending alphanumeric; a
// subdomain is at most 253 characters and may also hold dots.
describe('DNS_LABEL', () => {
  it.each(['a', 'z', '0', '9', 'ab', 'a-b', 'kube-system', 'xaz09-x', 'xa', 'xz', 'x0', 'x9', 'a'.repeat(63), `a${'-'.repeat(61)}b`])(
    'accepts %s',
    (v) => {
      expect(DNS_LABEL.test(v)).toBe(true);
    },
  );

  it.each(['', 'a'.repeat(64), '-a', 'a-', '-', 'A', 'aB', 'a.b', 'a_b', ' a', 'a ', 'a\n', 'é'])('refuses %j', (v) => {
    expect(DNS_LABEL.test(v)).toBe(false);
  });
});

// 253 characters: three 63-character labels and one of 61, joined by dots.
const LONGEST = [...Array<string>(3).fill('a'.repeat(63)), 'b'.repeat(61)].join('.');

describe('DNS_SUBDOMAIN', () => {
  it('builds a 253-character name', () => {
    expect(LONGEST).toHaveLength(253);
  });

  it.each(['a', 'z', '0', '9', 'node-1', 'node1.example.com', 'x.a-z.0-9.x', 'xa', 'xz', 'x0', 'x9', LONGEST])('accepts %s', (v) => {
    expect(DNS_SUBDOMAIN.test(v)).toBe(true);
  });

  it.each(['', `${LONGEST}b`, '-a', 'a-', '.a', 'a.', 'Node1', 'a_b', 'a b', ' a', 'a ', 'a\n'])('refuses %j', (v) => {
    expect(DNS_SUBDOMAIN.test(v)).toBe(false);
  });
});
