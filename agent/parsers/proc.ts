// /proc/net/netstat and /proc/net/snmp: pairs of lines, "Prefix: Name1 Name2 ..." then "Prefix: 1 2 ...".

export type NetstatTable = Record<string, Record<string, number>>;

export function parseNetstat(text: string): NetstatTable {
  const out: NetstatTable = {};
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const head = lines[i]!;
    const vals = lines[i + 1]!;
    const hc = head.indexOf(':');
    const vc = vals.indexOf(':');
    if (hc <= 0 || vc <= 0) continue;
    const prefix = head.slice(0, hc);
    if (vals.slice(0, vc) !== prefix) continue; // out of step: skip rather than mislabel counters
    const names = head
      .slice(hc + 1)
      .trim()
      .split(/\s+/);
    const nums = vals
      .slice(vc + 1)
      .trim()
      .split(/\s+/);
    if (names.length !== nums.length) continue;
    const table: Record<string, number> = {};
    names.forEach((n, j) => {
      const v = Number(nums[j]);
      if (Number.isFinite(v)) table[n] = v;
    });
    out[prefix] = table;
  }
  return out;
}
