type Listener = (...args: any[]) => unknown;

/** A minimal event emitter with no environment dependency. */
export class Emitter {
  private listeners = new Map<string, Set<Listener>>();

  on(event: string, fn: Listener): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  off(event: string, fn?: Listener): void {
    if (!fn) this.listeners.delete(event);
    else this.listeners.get(event)?.delete(fn);
  }

  has(event: string): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  get(event: string): Listener[] {
    return [...(this.listeners.get(event) ?? [])];
  }

  emit(event: string, ...args: unknown[]): void {
    for (const fn of this.get(event)) {
      try {
        fn(...args);
      } catch (err) {
        // a throwing listener must not break the client
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }
}
