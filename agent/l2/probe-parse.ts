// iputils arping output (arping -b -c N -w S -I IFACE IP):
//   ARPING 192.168.1.240 from 192.168.1.10 eth0
//   Unicast reply from 192.168.1.240 [02:7D:F7:90:04:C8]  0.557ms
//   Sent 3 probes (3 broadcast(s))
//   Received 3 response(s)
// Pure; unknown lines are ignored, and a reply for another address is not counted.

export interface ArpingResult {
  /** distinct answering MACs (lower case), with their fastest answer (null: the tool does not measure it) */
  answers: Array<{ mac: string; ms: number | null }>;
  sent: number | null;
  received: number | null;
}

const REPLY = /^(?:Unicast|Broadcast) reply from (\S+) \[([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})\]\s+([0-9.]+)ms/;

export function parseArping(text: string, ip: string): ArpingResult {
  const best = new Map<string, number>();
  let sent: number | null = null;
  let received: number | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const r = REPLY.exec(line);
    if (r) {
      if (r[1] !== ip) continue;
      const mac = r[2]!.toLowerCase();
      const ms = Number(r[3]);
      if (Number.isFinite(ms)) best.set(mac, Math.min(ms, best.get(mac) ?? Infinity));
      continue;
    }
    const s = /^Sent (\d+) probes?/.exec(line);
    if (s) sent = Number(s[1]);
    const rc = /^Received (\d+) responses?/.exec(line);
    if (rc) received = Number(rc[1]);
  }
  return { answers: [...best].sort((a, b) => a[0].localeCompare(b[0])).map(([mac, ms]) => ({ mac, ms })), sent, received };
}

/**
 * ndisc6 output (ndisc6 -m -n -r 3 -w 1000 IP IFACE), which names every answering MAC but measures no latency:
 *   Soliciting 2001:db8:1::240 (2001:db8:1::240) on eth0...
 *   Target link-layer address: 5E:02:4B:57:B4:0A
 *    from 2001:db8:1::240
 *   ... or: Timed out. / No response.
 */
export function parseNdisc6(text: string): ArpingResult {
  const macs = new Set<string>();
  let solicited = false;
  let received = 0;
  for (const line of text.split('\n')) {
    if (/^Soliciting /.test(line)) solicited = true;
    const m = /^Target link-layer address: ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})\s*$/.exec(line.trim());
    if (m) {
      macs.add(m[1]!.toLowerCase());
      received++;
    }
  }
  return { answers: [...macs].sort().map((mac) => ({ mac, ms: null })), sent: solicited ? 1 : null, received: solicited ? received : null };
}
