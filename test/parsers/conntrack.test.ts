// parseConntrack on `conntrack -L` lines as conntrack-tools prints them: the field rules one by one (marks are
// unsigned 32-bit, ports 0-65535, exactly two tuples, lower-case protocol names), and the limit.

import { describe, expect, it } from 'vitest';
import { parseConntrack } from '../../agent/parsers/conntrack.js';

const TCP =
  'tcp      6 431999 ESTABLISHED src=203.0.113.5 dst=192.168.1.240 sport=40000 dport=443 src=10.244.1.5 dst=203.0.113.5 sport=8443 dport=40000';

describe('parseConntrack', () => {
  it('reads an ICMP entry (no ports) and ignores keys it does not use', () => {
    const r = parseConntrack(
      'icmp     1 29 src=192.0.2.1 dst=192.0.2.10 type=8 code=0 id=7 src=192.0.2.10 dst=192.0.2.1 type=0 code=0 id=7 mark=0 zone=3 use=1',
    );
    expect(r).toEqual({
      entries: [
        {
          proto: 'icmp',
          state: null,
          orig: { src: '192.0.2.1', dst: '192.0.2.10', sport: null, dport: null },
          reply: { src: '192.0.2.10', dst: '192.0.2.1', sport: null, dport: null },
          mark: 0,
          flags: [],
        },
      ],
      malformed: 0,
    });
  });

  it('writes addresses canonically and keeps every flag', () => {
    const r = parseConntrack(
      'udp 17 29 src=2001:DB8:0::5 dst=2001:db8:0:0:0:0:0:240 sport=5000 dport=53 src=2001:db8::240 dst=2001:db8::5 sport=53 dport=5000 [ASSURED] [OFFLOAD] mark=7 use=1',
    );
    expect(r.entries[0]).toMatchObject({
      orig: { src: '2001:db8::5', dst: '2001:db8::240' },
      flags: ['ASSURED', 'OFFLOAD'],
      mark: 7,
      state: null,
    });
  });

  it.each([
    ['0', 0],
    ['4294967295', 0xffffffff],
  ])('accepts mark=%s', (m, n) => {
    const r = parseConntrack(`${TCP} mark=${m}`);
    expect(r.malformed).toBe(0);
    expect(r.entries[0]?.mark).toBe(n);
  });

  it.each(['4294967296', '-1', '1.5', 'abc'])('counts mark=%s as malformed', (m) => {
    expect(parseConntrack(`${TCP} mark=${m}`)).toEqual({ entries: [], malformed: 1 });
  });

  it.each([
    ['0', 0],
    ['65535', 65535],
    ['65536', null],
    ['123456', null],
    ['-1', null],
    ['8a', null],
    ['', null],
  ])('reads sport=%s as %s', (p, n) => {
    const r = parseConntrack(
      `tcp 6 10 CLOSE src=192.0.2.1 dst=192.0.2.10 sport=${p} dport=80 src=192.0.2.10 dst=192.0.2.1 sport=80 dport=1`,
    );
    expect(r.entries[0]?.orig.sport).toBe(n);
  });

  it.each([
    ['a third tuple', `${TCP} src=192.0.2.1 dst=192.0.2.2`],
    ['no reply tuple', 'tcp 6 10 CLOSE src=192.0.2.1 dst=192.0.2.10 sport=1 dport=2'],
    ['a reply without its destination', 'tcp 6 10 CLOSE src=192.0.2.1 dst=192.0.2.10 sport=1 dport=2 src=192.0.2.10 sport=2 dport=1'],
    ['an original without its source', 'tcp 6 10 CLOSE dst=192.0.2.10 sport=1 dport=2 src=192.0.2.10 dst=192.0.2.1'],
    ['an address that is none', 'tcp 6 10 CLOSE src=192.0.2.300 dst=192.0.2.10 src=192.0.2.10 dst=192.0.2.1'],
    ['an upper-case protocol', 'TCP 6 10 CLOSE src=192.0.2.1 dst=192.0.2.10 src=192.0.2.10 dst=192.0.2.1'],
    ['a protocol with a dash', 'ip-6 6 10 CLOSE src=192.0.2.1 dst=192.0.2.10 src=192.0.2.10 dst=192.0.2.1'],
  ])('counts a line with %s as malformed', (_, line) => {
    expect(parseConntrack(line)).toEqual({ entries: [], malformed: 1 });
  });

  it('takes upper-case words as the state and bracketed ones as flags, nothing else', () => {
    const r = parseConntrack(
      `tcp 6 10 TIME_WAIT [assured] Close src=192.0.2.1 dst=192.0.2.10 src=192.0.2.10 dst=192.0.2.1 [UNREPLIED] [X Y]`,
    );
    expect(r.entries[0]).toMatchObject({ proto: 'tcp', state: 'TIME_WAIT', flags: ['UNREPLIED'] });
  });

  it('skips blank lines and the summary line, and stops at the limit without counting what follows', () => {
    const text = ['', '   ', `  ${TCP}  `, 'garbage', TCP, '  conntrack v1.4.8 (conntrack-tools): 2 flow entries have been shown.'].join(
      '\n',
    );
    expect(parseConntrack(text)).toMatchObject({ malformed: 1 });
    expect(parseConntrack(text).entries).toHaveLength(2);
    expect(parseConntrack(text, 1)).toMatchObject({ malformed: 0 });
    expect(parseConntrack(text, 1).entries).toHaveLength(1);
    expect(parseConntrack(text, 0)).toEqual({ entries: [], malformed: 0 });
  });
});
