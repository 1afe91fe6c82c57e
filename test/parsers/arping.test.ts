// iputils arping output, as printed in the namespace tests (iputils 20221126).

import { expect, it } from 'vitest';
import { parseArping } from '../../agent/parsers/arping.js';

const HEAD = 'ARPING 192.168.1.240 from 192.168.1.10 eth0\n';

it.each([
  ['one owner, three answers', `${HEAD}Unicast reply from 192.168.1.240 [02:7D:F7:90:04:C8]  0.557ms\nUnicast reply from 192.168.1.240 [02:7D:F7:90:04:C8]  0.554ms\nSent 2 probes (2 broadcast(s))\nReceived 2 response(s)\n`, { answers: [{ mac: '02:7d:f7:90:04:c8', ms: 0.554 }], sent: 2, received: 2 }],
  ['two owners', `${HEAD}Unicast reply from 192.168.1.240 [E2:09:98:10:1B:BE]  0.569ms\nUnicast reply from 192.168.1.240 [02:7D:F7:90:04:C8]  0.589ms\nSent 1 probes (1 broadcast(s))\nReceived 2 response(s)\n`, { answers: [{ mac: '02:7d:f7:90:04:c8', ms: 0.589 }, { mac: 'e2:09:98:10:1b:be', ms: 0.569 }], sent: 1, received: 2 }],
  ['nobody', `${HEAD}Sent 2 probes (2 broadcast(s))\nReceived 0 response(s)\n`, { answers: [], sent: 2, received: 0 }],
  ['a reply for another address is not an owner', `${HEAD}Unicast reply from 192.168.1.241 [02:00:00:00:00:01]  0.5ms\nSent 1 probes (1 broadcast(s))\nReceived 1 response(s)\n`, { answers: [], sent: 1, received: 1 }],
  ['arping failed before probing', 'arping: Device eth9 not available.\n', { answers: [], sent: null, received: null }],
  ['truncated output', 'Unicast reply from 192.168.1.240 [02:7D:F7', { answers: [], sent: null, received: null }],
])('%s', (_n, text, expected) => {
  expect(parseArping(text, '192.168.1.240')).toEqual(expected);
});
