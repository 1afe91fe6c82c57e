// Findings over time: first seen, last seen, and the transitions (raised, cleared) between two checks.

import { findingId, type Finding } from './registry.js';

export interface TrackedFinding extends Finding {
  id: string;
  firstSeen: string;
  lastSeen: string;
}

export interface Transition {
  event: 'finding-raised' | 'finding-cleared';
  id: string;
  type: Finding['type'];
  severity: Finding['severity'];
  vip: string | null;
  summary: string;
  at: string;
}

export class FindingStore {
  private current = new Map<string, TrackedFinding>();

  /** Replaces the findings of one source ("static" or "live") and returns what changed. */
  update(source: string, findings: Finding[], now: Date): Transition[] {
    const at = now.toISOString();
    const next = new Map<string, TrackedFinding>();
    for (const [id, f] of this.current) if (!id.startsWith(`${source}:`)) next.set(id, f);
    const transitions: Transition[] = [];
    for (const f of findings) {
      const id = `${source}:${findingId(f)}`;
      const prev = this.current.get(id);
      next.set(id, { ...f, id, firstSeen: prev?.firstSeen ?? at, lastSeen: at });
      if (!prev) transitions.push({ event: 'finding-raised', id, type: f.type, severity: f.severity, vip: f.vip, summary: f.summary, at });
    }
    for (const [id, f] of this.current) {
      if (id.startsWith(`${source}:`) && !next.has(id))
        transitions.push({ event: 'finding-cleared', id, type: f.type, severity: f.severity, vip: f.vip, summary: f.summary, at });
    }
    this.current = next;
    return transitions;
  }

  all(): TrackedFinding[] {
    return [...this.current.values()];
  }
}
