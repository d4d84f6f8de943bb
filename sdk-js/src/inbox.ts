import type { KVStorage } from './adapter.js';

/** meta of every pushed message. */
export interface Meta {
  id: string;
  seq: number;
  ts: number;
  room?: string;
}

/** A jump in seq on one stream: messages from..to (inclusive) were not seen. */
export interface Gap {
  /** The room, "*" for pushes to all, "" for the user's own mailbox. */
  room: string;
  from: number;
  to: number;
}

interface Saved {
  ids: string[];
  seq: Record<string, number>;
}

/**
 * What one device has handled on one server: a bounded FIFO set of message
 * ids (de-duplication) and the last seq per stream (gap detection), kept in
 * the adapter's storage so a reload does not hand a message over again.
 */
export class Inbox {
  private ids: string[] = [];
  private set = new Set<string>();
  private seq = new Map<string, number>();

  constructor(
    private readonly storage: KVStorage,
    private readonly key: string,
    private readonly limit = 1000,
  ) {
    this.load();
  }

  private load(): void {
    let raw: string | null | undefined;
    try {
      raw = this.storage.getItem(this.key);
    } catch {
      raw = null;
    }
    if (!raw) return;
    try {
      const s = JSON.parse(raw) as Saved;
      for (const id of Array.isArray(s.ids) ? s.ids : []) if (typeof id === 'string') this.remember(id);
      for (const [room, n] of Object.entries(s.seq ?? {})) if (typeof n === 'number') this.seq.set(room, n);
    } catch {
      // a corrupt entry is dropped: worst case a message is handled again
    }
  }

  /** Writes the set and positions to storage. */
  save(): void {
    const s: Saved = { ids: this.ids, seq: Object.fromEntries(this.seq) };
    try {
      this.storage.setItem(this.key, JSON.stringify(s));
    } catch {
      // storage full or denied: de-duplication still works in memory
    }
  }

  has(id: string): boolean {
    return this.set.has(id);
  }

  /** Marks id handled (the oldest id goes when the set is full) and saves. */
  add(id: string): void {
    this.remember(id);
    this.save();
  }

  private remember(id: string): void {
    if (this.set.has(id)) return;
    this.set.add(id);
    this.ids.push(id);
    while (this.ids.length > this.limit) this.set.delete(this.ids.shift() as string);
  }

  get size(): number {
    return this.ids.length;
  }

  /**
   * Records meta.seq of a message not seen before and returns the gap it
   * reveals, if any. seq 0 (fire-and-forget) is not tracked; a seq at or
   * below the last one means the stream started over: tracking restarts.
   */
  track(meta: Meta): Gap | undefined {
    if (typeof meta.seq !== 'number' || meta.seq <= 0) return undefined;
    const room = meta.room ?? '';
    const last = this.seq.get(room);
    this.seq.set(room, meta.seq);
    if (last !== undefined && meta.seq > last + 1) return { room, from: last + 1, to: meta.seq - 1 };
    return undefined;
  }

  lastSeq(room = ''): number | undefined {
    return this.seq.get(room);
  }
}
