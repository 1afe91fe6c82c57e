// The flow table behind the flow matcher: bounded, small, no per-flow object. A flow is a slot in typed arrays (struct
// of arrays); IPv4 flows are found through an open-addressing hash over (service id, client address, client port),
// IPv6 flows through a string key per service. The arrays start small and double as flows arrive, up to the
// capacity: an idle agent holds a few KiB, not the whole table. Full table: the CLOCK hand evicts a flow. What a
// flow means (requests, replies, outcomes) is the matcher's business; the table only stores, finds and frees.

const INITIAL_SLOTS = 1024;

/** Called before a slot is freed (evicted, expired), while its fields still hold the flow. */
export type OnClose = (slot: number, now: number) => void;

export class FlowTable {
  readonly capacity: number;
  // Slot fields. Growth replaces these arrays: read them through the table, do not keep references.
  /** service id (the matcher's interned VIP, port, protocol) */
  svc: Uint16Array;
  client4: Uint32Array;
  cport4: Uint16Array;
  used: Uint8Array;
  first: Float64Array;
  last: Float64Array;
  pin: Uint32Array;
  pout: Uint32Array;
  syns: Uint16Array;
  flags: Uint8Array;
  /** the initial sequence number of the VIP's SYN-ACK, to check that the client acknowledged it */
  isn: Uint32Array;
  /** interface id + 1; 0 = none */
  ingress: Uint16Array;
  egress: Uint16Array;
  evictions = 0;
  // IPv4 index: open addressing with linear probing; entry = slot + 1, 0 = empty
  private tab: Int32Array;
  private mask: number;
  // IPv6 index: per service id, "client|port" -> slot
  private readonly index6: Map<string, number>[] = [];
  private readonly v6key = new Map<number, string>();
  private live = 0;
  private readonly free: number[] = [];
  private next = 0;
  private hand = 0;
  /** slots allocated in the arrays (grows to capacity) */
  private allocated = 0;
  private readonly onClose: OnClose;

  constructor(capacity: number, onClose: OnClose) {
    this.capacity = capacity;
    this.onClose = onClose;
    const n = Math.min(capacity, INITIAL_SLOTS);
    this.svc = new Uint16Array(n);
    this.client4 = new Uint32Array(n);
    this.cport4 = new Uint16Array(n);
    this.used = new Uint8Array(n);
    this.first = new Float64Array(n);
    this.last = new Float64Array(n);
    this.pin = new Uint32Array(n);
    this.pout = new Uint32Array(n);
    this.syns = new Uint16Array(n);
    this.flags = new Uint8Array(n);
    this.isn = new Uint32Array(n);
    this.ingress = new Uint16Array(n);
    this.egress = new Uint16Array(n);
    this.allocated = n;
    this.tab = new Int32Array(FlowTable.tableSize(n));
    this.mask = this.tab.length - 1;
  }

  // Open addressing stays fast below half full.
  private static tableSize(slots: number): number {
    let size = 1024;
    while (size < slots * 2) size *= 2;
    return size;
  }

  /** Slots allocated now (at most capacity): the table's memory is about 44 bytes times this. */
  get allocatedSlots(): number {
    return this.allocated;
  }

  /** Open flows. */
  get size(): number {
    return this.live;
  }

  /** One past the highest slot ever used: every open flow's slot is below it (check `used`). */
  get end(): number {
    return this.next;
  }

  // Doubles every slot array (up to capacity) and rebuilds the hash index over the IPv4 flows.
  private grow(): void {
    const n = Math.min(this.capacity, this.allocated * 2);
    const widen = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.svc = widen(this.svc, (k) => new Uint16Array(k));
    this.client4 = widen(this.client4, (k) => new Uint32Array(k));
    this.cport4 = widen(this.cport4, (k) => new Uint16Array(k));
    this.used = widen(this.used, (k) => new Uint8Array(k));
    this.first = widen(this.first, (k) => new Float64Array(k));
    this.last = widen(this.last, (k) => new Float64Array(k));
    this.pin = widen(this.pin, (k) => new Uint32Array(k));
    this.pout = widen(this.pout, (k) => new Uint32Array(k));
    this.syns = widen(this.syns, (k) => new Uint16Array(k));
    this.flags = widen(this.flags, (k) => new Uint8Array(k));
    this.isn = widen(this.isn, (k) => new Uint32Array(k));
    this.ingress = widen(this.ingress, (k) => new Uint16Array(k));
    this.egress = widen(this.egress, (k) => new Uint16Array(k));
    this.allocated = n;
    const size = FlowTable.tableSize(n);
    if (size !== this.tab.length) {
      this.tab = new Int32Array(size);
      this.mask = size - 1;
      for (let s = 0; s < this.next; s++) if (this.used[s] && !this.v6key.has(s)) this.insert4(s);
    }
  }

  private static hash(svc: number, client: number, cport: number): number {
    let h = Math.imul(client ^ (cport << 16) ^ Math.imul(svc, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  /** The slot of an IPv4 flow, or -1. */
  find4(svc: number, client: number, cport: number): number {
    let i = FlowTable.hash(svc, client, cport) & this.mask;
    for (;;) {
      const e = this.tab[i]!;
      if (e === 0) return -1;
      const s = e - 1;
      if (this.client4[s] === client && this.cport4[s] === cport && this.svc[s] === svc) return s;
      i = (i + 1) & this.mask;
    }
  }

  /** A new IPv4 flow (the caller checked find4 first). */
  add4(svc: number, client: number, cport: number, ts: number): number {
    const slot = this.allocate(svc, ts);
    this.client4[slot] = client;
    this.cport4[slot] = cport;
    this.insert4(slot);
    return slot;
  }

  /** The slot of an IPv6 flow ("client|port" within the service), or undefined. */
  find6(svc: number, key: string): number | undefined {
    return this.index6[svc]?.get(key);
  }

  /** A new IPv6 flow (the caller checked find6 first). */
  add6(svc: number, key: string, ts: number): number {
    const slot = this.allocate(svc, ts);
    this.v6key.set(slot, key);
    let index = this.index6[svc];
    if (!index) this.index6[svc] = index = new Map();
    index.set(key, slot);
    return slot;
  }

  /** The "client|port" key of an IPv6 flow; undefined for IPv4. */
  key6(slot: number): string | undefined {
    return this.v6key.get(slot);
  }

  private insert4(slot: number): void {
    let i = FlowTable.hash(this.svc[slot]!, this.client4[slot]!, this.cport4[slot]!) & this.mask;
    while (this.tab[i] !== 0) i = (i + 1) & this.mask;
    this.tab[i] = slot + 1;
  }

  // Backward-shift deletion keeps every probe sequence unbroken without tombstones.
  private remove4(slot: number): void {
    let i = FlowTable.hash(this.svc[slot]!, this.client4[slot]!, this.cport4[slot]!) & this.mask;
    while (this.tab[i] !== slot + 1) i = (i + 1) & this.mask;
    this.tab[i] = 0;
    let j = i;
    for (;;) {
      j = (j + 1) & this.mask;
      const e = this.tab[j]!;
      if (e === 0) return;
      const k = FlowTable.hash(this.svc[e - 1]!, this.client4[e - 1]!, this.cport4[e - 1]!) & this.mask;
      const between = i <= j ? i < k && k <= j : i < k || k <= j;
      if (!between) {
        this.tab[i] = e;
        this.tab[j] = 0;
        i = j;
      }
    }
  }

  private allocate(svc: number, ts: number): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.next < this.capacity) {
        if (this.next === this.allocated) this.grow();
        slot = this.next++;
      } else {
        // Full: the CLOCK hand evicts the slot it points at (every slot is live when the table is full).
        const victim = this.hand;
        this.hand = (this.hand + 1) % this.capacity;
        this.close(victim, Number.POSITIVE_INFINITY);
        this.evictions++;
        slot = this.free.pop()!;
      }
    }
    this.used[slot] = 1;
    this.svc[slot] = svc;
    this.first[slot] = ts;
    this.last[slot] = ts;
    this.pin[slot] = 0;
    this.pout[slot] = 0;
    this.syns[slot] = 0;
    this.flags[slot] = 0;
    this.isn[slot] = 0;
    this.ingress[slot] = 0;
    this.egress[slot] = 0;
    this.live++;
    return slot;
  }

  private close(slot: number, now: number): void {
    this.onClose(slot, now);
    const k6 = this.v6key.get(slot);
    if (k6 !== undefined) {
      this.index6[this.svc[slot]!]!.delete(k6);
      this.v6key.delete(slot);
    } else this.remove4(slot);
    this.used[slot] = 0;
    this.free.push(slot);
    this.live--;
  }

  /** Closes flows without packets for longer than idleMs; returns how many. */
  expireIdle(now: number, idleMs: number): number {
    let n = 0;
    for (let s = 0; s < this.next; s++) {
      if (this.used[s] && now - this.last[s]! > idleMs) {
        this.close(s, now);
        n++;
      }
    }
    return n;
  }
}
