// TCP sockets from `ss -H -t -a -n [FILTER]` (iproute2; ss has no JSON output). One socket per line:
//   STATE  RECV-Q  SEND-Q  LOCAL:PORT  PEER:PORT  [PROCESS]
// Addresses: 192.168.1.10:179, 192.168.1.10%eth0:40265 (bound to a device), [2001:db8::1]:179,
// [fe80::1]%eth0:179, 0.0.0.0:*, [::]:*, *:179. Lines that do not parse are returned as errors, not thrown.

import { canonicalIp } from '../net/ip.js';

export interface SsSocket {
  state: string;
  localIp: string | null;
  localPort: number | null;
  peerIp: string | null;
  peerPort: number | null;
}

export interface SsParse {
  sockets: SsSocket[];
  /** lines that did not parse, for the log */
  bad: string[];
}

const STATES = new Set([
  'ESTAB',
  'SYN-SENT',
  'SYN-RECV',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'TIME-WAIT',
  'UNCONN',
  'CLOSE-WAIT',
  'LAST-ACK',
  'LISTEN',
  'CLOSING',
  'CLOSED',
]);

function endpoint(text: string): { ip: string | null; port: number | null } | null {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return null;
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  const port = portText === '*' ? null : /^\d{1,5}$/.test(portText) && Number(portText) <= 65535 ? Number(portText) : undefined;
  if (port === undefined) return null;
  const pct = host.indexOf('%');
  if (pct !== -1) host = host.slice(0, pct);
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return null;
    host = host.slice(1, -1);
  }
  if (host === '*') return { ip: null, port };
  const ip = canonicalIp(host);
  if (ip === null) return null;
  return { ip, port };
}

export function parseSs(text: string): SsParse {
  const out: SsParse = { sockets: [], bad: [] };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const f = line.trim().split(/\s+/);
    // A bracketed IPv6 with a scope can contain '%' but never spaces: the columns are whitespace-separated.
    const local = f.length >= 5 && STATES.has(f[0]!) ? endpoint(f[3]!) : null;
    const peer = local ? endpoint(f[4]!) : null;
    if (!local || !peer) {
      out.bad.push(line.slice(0, 200));
      continue;
    }
    out.sockets.push({ state: f[0]!, localIp: local.ip, localPort: local.port, peerIp: peer.ip, peerPort: peer.port });
  }
  return out;
}
