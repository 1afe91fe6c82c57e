// The capture download's child, with real processes and signals standing in for tcpdump: a script that prints its
// arguments and either stops on SIGTERM or ignores it. Headers only unless payloads; killed at the limit either way.

import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KILL_GRACE_MS, PAYLOAD_SNAPLEN, startPcapDownload } from '../../agent/capture/pcap-download.js';
import { tempDir } from '../helpers/tmp.js';

function fakeTcpdump(body: string): string {
  const f = join(tempDir('pcapdl'), 'tcpdump');
  writeFileSync(f, `#!/bin/sh\nprintf '%s\\n' "$*"\n${body}\n`);
  chmodSync(f, 0o755);
  return f;
}

async function collect(out: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of out) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('startPcapDownload', () => {
  it('asks for the headers-only snaplen by default and the full one for payloads', async () => {
    const bin = fakeTcpdump('exit 0');
    const headers = startPcapDownload(['192.0.2.10'], { seconds: 5, maxBytes: 1 << 20, snaplen: 192, payloads: false, binary: bin });
    const args = String(await collect(headers.out));
    expect(args).toMatch(/(^| )-s 192( |$)/);
    expect(args).toMatch(/ --immediate-mode (ip|\()/);
    const whole = startPcapDownload(['192.0.2.10'], { seconds: 5, maxBytes: 1 << 20, snaplen: 192, payloads: true, binary: bin });
    expect(String(await collect(whole.out))).toMatch(new RegExp(`(^| )-s ${PAYLOAD_SNAPLEN}( |$)`));
  });

  it('ends a child that stops on SIGTERM at the time limit', async () => {
    const bin = fakeTcpdump("trap 'exit 0' TERM\nwhile :; do sleep 0.05; done");
    const t0 = Date.now();
    const d = startPcapDownload(['192.0.2.10'], { seconds: 1, maxBytes: 1 << 20, snaplen: 192, payloads: false, binary: bin });
    await collect(d.out);
    const exit = await d.child.done;
    expect(exit.exitCode).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t0).toBeLessThan(1000 + KILL_GRACE_MS);
  });

  it('kills a child that ignores SIGTERM once the grace has passed', async () => {
    const bin = fakeTcpdump("trap '' TERM\nwhile :; do sleep 0.05; done");
    const t0 = Date.now();
    const d = startPcapDownload(['192.0.2.10'], {
      seconds: 1,
      maxBytes: 1 << 20,
      snaplen: 192,
      payloads: false,
      binary: bin,
      graceMs: 500,
    });
    await collect(d.out);
    expect((await d.child.done).signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('sends at most maxBytes and stops the child there', async () => {
    const bin = fakeTcpdump("trap 'exit 0' TERM\nwhile :; do printf '%01000d' 0; done");
    const d = startPcapDownload(['192.0.2.10'], { seconds: 30, maxBytes: 100_000, snaplen: 192, payloads: false, binary: bin });
    const t0 = Date.now();
    expect((await collect(d.out)).length).toBe(100_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await d.child.done).exitCode).toBe(0);
  });
});
