// A pcap of VIP traffic for a bounded time and size, straight from a second tcpdump (GET /v1/capture): headers only
// unless payloads are asked for and allowed, and the child killed at the limit whatever it does.

import { PassThrough } from 'node:stream';
import type { Child } from '../sources/child.js';
import { spawnTcpdump, tcpdumpArgs } from './tcpdump.js';

/** Bytes per packet of a download with payloads (tcpdump's own maximum). */
export const PAYLOAD_SNAPLEN = 262144;
/** Milliseconds between SIGTERM and SIGKILL for a capture that does not stop. */
export const KILL_GRACE_MS = 2000;

export interface PcapDownload {
  /** the pcap stream; it ends when the child has exited */
  out: PassThrough;
  child: Child;
  /** SIGTERM now, SIGKILL after the grace (the client went away) */
  stop: () => void;
}

export function startPcapDownload(
  vips: string[],
  o: { seconds: number; maxBytes: number; snaplen: number; payloads: boolean; binary?: string; graceMs?: number },
): PcapDownload {
  const args = tcpdumpArgs(vips, { snaplen: o.payloads ? PAYLOAD_SNAPLEN : o.snaplen });
  // Immediate mode (before the filter, the last argument): without it libpcap hands packets over a ring block at a
  // time (up to a second late), and those still in the ring when SIGTERM ends the download are lost.
  args.splice(args.length - 1, 0, '--immediate-mode');
  const child = spawnTcpdump(args, o.binary ? { binary: o.binary } : {});
  child.proc.stderr?.resume();
  const out = new PassThrough();
  let sent = 0;
  let killTimer: NodeJS.Timeout | null = null;
  const stop = () => {
    if (killTimer) return;
    child.proc.kill('SIGTERM');
    killTimer = setTimeout(() => child.proc.kill('SIGKILL'), o.graceMs ?? KILL_GRACE_MS);
  };
  const timer = setTimeout(stop, o.seconds * 1000);
  child.proc.stdout?.on('data', (d: Buffer) => {
    if (sent >= o.maxBytes) return;
    if (sent + d.length > o.maxBytes) {
      out.write(d.subarray(0, o.maxBytes - sent));
      sent = o.maxBytes;
      stop();
      return;
    }
    sent += d.length;
    out.write(d);
  });
  void child.done.then(() => {
    clearTimeout(timer);
    if (killTimer) clearTimeout(killTimer);
    out.end();
  });
  return { out, child, stop };
}
