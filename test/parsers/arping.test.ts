// iputils arping output, as printed in the namespace tests (iputils 20221126).

import { expect, it } from 'vitest';
import { parseArping, parseNdisc6 } from '../../agent/l2/probe-parse.js';

const HEAD = 'ARPING 192.168.1.240 from 192.168.1.10 eth0\n';

it.each([
  [
    'one owner, three answers',
    `${HEAD}Unicast reply from 192.168.1.240 [02:7D:F7:90:04:C8]  0.557ms\nUnicast reply from 192.168.1.240 [02:7D:F7:90:04:C8]  0.554ms\nSent 2 probes (2 broadcast(s))\nReceived 2 response(s)\n`,
    { answers: [{ mac: '02:7d:f7:90:04:c8', ms: 0.554 }], sent: 2, received: 2 },
  ],
  [
    'two owners',
    `${HEAD}Unicast reply from 192.168.1.240 [E2:09:98:10:1B:BE]  0.569ms\nUnicast reply from 192.168.1.240 [02:7D:F7:90:04:C8]  0.589ms\nSent 1 probes (1 broadcast(s))\nReceived 2 response(s)\n`,
    {
      answers: [
        { mac: '02:7d:f7:90:04:c8', ms: 0.589 },
        { mac: 'e2:09:98:10:1b:be', ms: 0.569 },
      ],
      sent: 1,
      received: 2,
    },
  ],
  ['nobody', `${HEAD}Sent 2 probes (2 broadcast(s))\nReceived 0 response(s)\n`, { answers: [], sent: 2, received: 0 }],
  [
    'a reply for another address is not an owner',
    `${HEAD}Unicast reply from 192.168.1.241 [02:00:00:00:00:01]  0.5ms\nSent 1 probes (1 broadcast(s))\nReceived 1 response(s)\n`,
    { answers: [], sent: 1, received: 1 },
  ],
  ['arping failed before probing', 'arping: Device eth9 not available.\n', { answers: [], sent: null, received: null }],
  ['truncated output', 'Unicast reply from 192.168.1.240 [02:7D:F7', { answers: [], sent: null, received: null }],
])('%s', (_n, text, expected) => {
  expect(parseArping(text, '192.168.1.240')).toEqual(expected);
});

it.each([
  [
    'one owner',
    'Soliciting 2001:db8:1::240 (2001:db8:1::240) on eth0...\nTarget link-layer address: 5E:02:4B:57:B4:0A\n from 2001:db8:1::240\n',
    { answers: [{ mac: '5e:02:4b:57:b4:0a', ms: null }], sent: 1, received: 1 },
  ],
  [
    'two owners',
    'Soliciting 2001:db8:1::240 (2001:db8:1::240) on eth0...\nTarget link-layer address: 7A:C9:1B:8C:E2:4A\n from 2001:db8:1::240\nTarget link-layer address: 5E:02:4B:57:B4:0A\n from fe80::1\n',
    {
      answers: [
        { mac: '5e:02:4b:57:b4:0a', ms: null },
        { mac: '7a:c9:1b:8c:e2:4a', ms: null },
      ],
      sent: 1,
      received: 2,
    },
  ],
  [
    'nobody',
    'Soliciting 2001:db8:1::240 (2001:db8:1::240) on eth0...\nTimed out.\nTimed out.\nNo response.\n',
    { answers: [], sent: 1, received: 0 },
  ],
  ['ndisc6 failed before soliciting', 'eth9: No such device\n', { answers: [], sent: null, received: null }],
])('ndisc6: %s', (_n, text, expected) => {
  expect(parseNdisc6(text)).toEqual(expected);
});
