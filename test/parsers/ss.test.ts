// ss -H -t -a -n output as iproute2 6.1 prints it (captured from BIRD sessions in namespaces).

import { expect, it } from 'vitest';
import { parseSs } from '../../agent/bgp/ss-parse.js';

it.each([
  [
    'listener',
    'LISTEN 0      8      0.0.0.0:179 0.0.0.0:*',
    { state: 'LISTEN', localIp: '0.0.0.0', localPort: 179, peerIp: '0.0.0.0', peerPort: null },
  ],
  [
    'session bound to a device',
    'ESTAB  0      0      192.168.1.10%eth0:40265 192.168.1.254:179',
    { state: 'ESTAB', localIp: '192.168.1.10', localPort: 40265, peerIp: '192.168.1.254', peerPort: 179 },
  ],
  ['IPv6 with scope', 'SYN-SENT 0 1 [fe80::1%eth0]:51000 [fe80::2]:179', null],
  [
    'IPv6 bracketed, scope outside',
    'ESTAB 0 0 [2001:db8::10]%eth0:179 [2001:db8::fe]:33000',
    { state: 'ESTAB', localIp: '2001:db8::10', localPort: 179, peerIp: '2001:db8::fe', peerPort: 33000 },
  ],
  ['wildcard v6 listener', 'LISTEN 0 8 [::]:179 [::]:*', { state: 'LISTEN', localIp: '::', localPort: 179, peerIp: '::', peerPort: null }],
  ['any-address star', 'LISTEN 0 8 *:179 *:*', { state: 'LISTEN', localIp: null, localPort: 179, peerIp: null, peerPort: null }],
])('%s', (_n, line, expected) => {
  const r = parseSs(`${line}\n`);
  if (expected === null) {
    // A scope inside the brackets is not what ss prints; refused, not guessed.
    expect(r.sockets).toEqual([]);
    expect(r.bad).toHaveLength(1);
  } else {
    expect(r).toEqual({ sockets: [expected], bad: [] });
  }
});

it.each([
  ['garbage'],
  ['ESTAB 0 0 192.168.1.10:99999 192.168.1.254:179'],
  ['ESTAB 0 0 300.1.1.1:179 1.1.1.1:1'],
  ['NOSTATE 0 0 1.1.1.1:1 1.1.1.1:2'],
  ['ESTAB 0 0 1.1.1.1'],
])('refuses %j without throwing', (line) => {
  expect(parseSs(line)).toEqual({ sockets: [], bad: [line] });
});
