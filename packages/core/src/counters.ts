/**
 * Named event counters (`tlb.miss`, `pmap.enter`, `vm.fault.zerofill`, ...). A layer asks once for
 * a Counter handle and bumps its `value` field on its paths: a monomorphic field increment, no
 * string lookup per event. Hot hardware counters that live in typed arrays are read through a
 * source callback at snapshot time instead.
 */
export class Counter {
  value = 0;
  constructor(readonly name: string) {}
  inc(n = 1): void {
    this.value += n;
  }
}

export type CounterSource = (out: Record<string, number>) => void;

export class Counters {
  private readonly byName = new Map<string, Counter>();
  private readonly sources: CounterSource[] = [];

  /** The handle for a named counter, created at zero on first use. */
  counter(name: string): Counter {
    let c = this.byName.get(name);
    if (!c) {
      c = new Counter(name);
      this.byName.set(name, c);
    }
    return c;
  }

  add(name: string, n = 1): void {
    this.counter(name).value += n;
  }

  get(name: string): number {
    const out = this.snapshot();
    return out[name] ?? 0;
  }

  /** Register a callback that adds counters kept elsewhere (e.g. per-CPU TLB statistics). */
  addSource(source: CounterSource): void {
    this.sources.push(source);
  }

  /** All counters by name, sources included, sorted by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.byName.values()) out[c.name] = c.value;
    for (const s of this.sources) s(out);
    const sorted: Record<string, number> = {};
    for (const k of Object.keys(out).sort()) sorted[k] = out[k] as number;
    return sorted;
  }

  reset(): void {
    for (const c of this.byName.values()) c.value = 0;
  }
}
