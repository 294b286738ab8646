/**
 * Structured trace events in a bounded ring buffer. Kernel operations, interrupts (with their
 * nesting depth), window switches, panics: each is one event with typed fields. Benchmarks, the CLI
 * and the explorer read these; nothing parses log text.
 */
export type TraceValue = number | string | boolean;

export interface TraceEvent {
  /** Monotonic sequence number over the life of the system. */
  readonly seq: number;
  /** Simulated cycle count of the emitting CPU when the event was recorded. */
  readonly cycles: number;
  readonly cpu: number;
  /** Interrupt nesting depth on that CPU (0 = not in an interrupt handler). */
  readonly depth: number;
  readonly layer: string;
  readonly name: string;
  readonly fields: Readonly<Record<string, TraceValue>>;
}

export interface TraceFilter {
  layer?: string;
  name?: string;
  cpu?: number;
  sinceSeq?: number;
  limit?: number;
}

/** Where the trace reads the time, the CPU and the interrupt depth from. */
export interface TraceClock {
  cycles(): number;
  cpu(): number;
  depth(): number;
}

const NO_CLOCK: TraceClock = { cycles: () => 0, cpu: () => 0, depth: () => 0 };

export class TraceRing {
  private readonly ring: (TraceEvent | undefined)[];
  private next = 0;
  private seq = 0;
  enabled = true;
  clock: TraceClock = NO_CLOCK;

  constructor(readonly capacity = 4096) {
    if (!(capacity >= 1)) throw new RangeError("trace capacity must be at least 1");
    this.ring = new Array<TraceEvent | undefined>(capacity);
  }

  emit(layer: string, name: string, fields: Record<string, TraceValue> = {}): void {
    if (!this.enabled) return;
    const ev: TraceEvent = {
      seq: this.seq++,
      cycles: this.clock.cycles(),
      cpu: this.clock.cpu(),
      depth: this.clock.depth(),
      layer,
      name,
      fields,
    };
    this.ring[this.next] = ev;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Number of events emitted since creation (including those overwritten). */
  get emitted(): number {
    return this.seq;
  }

  /** The retained events, oldest first, optionally filtered. */
  recent(filter: TraceFilter = {}): TraceEvent[] {
    const out: TraceEvent[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const ev = this.ring[(this.next + i) % this.capacity];
      if (!ev) continue;
      if (filter.layer !== undefined && ev.layer !== filter.layer) continue;
      if (filter.name !== undefined && ev.name !== filter.name) continue;
      if (filter.cpu !== undefined && ev.cpu !== filter.cpu) continue;
      if (filter.sinceSeq !== undefined && ev.seq < filter.sinceSeq) continue;
      out.push(ev);
    }
    // slice(-0) would be slice(0): a limit of 0 must return nothing, not everything.
    return filter.limit !== undefined ? out.slice(Math.max(0, out.length - filter.limit)) : out;
  }

  clear(): void {
    this.ring.fill(undefined);
    this.next = 0;
  }
}
