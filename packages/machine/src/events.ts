/**
 * The device event queue: things that happen at a simulated time (a disk transfer completing, a
 * clock tick). Time is a CPU's cycle counter: each CPU runs the events that are due by its own
 * clock when it next checks (at a memory access). Ties are broken by scheduling order, so runs
 * are deterministic.
 */
import type { Cpu } from "./cpu.js";

export interface DeviceEvent {
  readonly time: number;
  readonly seq: number;
  readonly name: string;
  readonly run: (cpu: Cpu) => void;
}

export class EventQueue {
  private heap: DeviceEvent[] = [];
  private seq = 0;
  /** Called whenever the earliest event time may have changed. */
  onChange: () => void = () => {};

  get size(): number {
    return this.heap.length;
  }

  schedule(time: number, name: string, run: (cpu: Cpu) => void): DeviceEvent {
    if (!Number.isFinite(time)) throw new RangeError(`event time must be finite, got ${time}`);
    const ev: DeviceEvent = { time, seq: this.seq++, name, run };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i] as DeviceEvent, h[p] as DeviceEvent)) break;
      [h[i], h[p]] = [h[p] as DeviceEvent, h[i] as DeviceEvent];
      i = p;
    }
    this.onChange();
    return ev;
  }

  nextTime(): number {
    return this.heap.length > 0 ? (this.heap[0] as DeviceEvent).time : Number.POSITIVE_INFINITY;
  }

  /** Remove and return the earliest event if it is due at `now`. */
  popDue(now: number): DeviceEvent | undefined {
    const h = this.heap;
    if (h.length === 0 || (h[0] as DeviceEvent).time > now) return undefined;
    const top = h[0] as DeviceEvent;
    const last = h.pop() as DeviceEvent;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l] as DeviceEvent, h[m] as DeviceEvent)) m = l;
        if (r < h.length && this.less(h[r] as DeviceEvent, h[m] as DeviceEvent)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as DeviceEvent, h[i] as DeviceEvent];
        i = m;
      }
    }
    return top;
  }

  pending(): readonly DeviceEvent[] {
    return [...this.heap].sort((a, b) => (this.less(a, b) ? -1 : 1));
  }

  private less(a: DeviceEvent, b: DeviceEvent): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }
}
