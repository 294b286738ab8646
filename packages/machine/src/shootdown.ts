/**
 * A batch of TLB invalidations owed by one page-table update, sent once the update is complete:
 * NetBSD's `pmap_remove_record` + `pmap_update`, FreeBSD's `pmap_invalidate_range`. Up to `max`
 * pages are invalidated one by one (INVLPG); beyond that the whole TLB is flushed. The CPU that
 * made the change invalidates its own TLB; every other target CPU receives an IPI — a TLB
 * shootdown — whose handler runs before the sender continues (Machine.ipi).
 *
 * Nothing is allocated per page or per send: the addresses live in a fixed array and the IPI
 * handler is built once.
 */
import type { Cpu } from "./cpu.js";
import type { Machine } from "./machine.js";

export class TlbBatch {
  /** Pages recorded one by one before the batch becomes a whole-TLB flush. */
  readonly max: number;
  /** Called on a CPU right after its whole TLB was flushed by this batch (pmap bookkeeping). */
  onFlushAll: ((cpu: Cpu) => void) | null = null;
  private readonly vas: Float64Array;
  private n = 0;
  private all = false;
  private global = false;
  private readonly handler: (cpu: Cpu) => void;

  constructor(
    readonly machine: Machine,
    max = 16,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`TLB batch size ${max}`);
    this.max = max;
    this.vas = new Float64Array(max);
    this.handler = (cpu: Cpu) => this.invalidateOn(cpu);
  }

  /** Record that the translation of the page at va changed. */
  add(va: number): void {
    if (this.n < this.max) this.vas[this.n++] = va;
    else this.all = true;
  }

  /** Make the batch a whole-TLB flush, whatever it holds. */
  addAll(): void {
    this.all = true;
  }

  /** Whether nothing is owed. */
  get empty(): boolean {
    return this.n === 0 && !this.all;
  }

  /** Pages recorded (max + 1 once it overflowed into a full flush, as NetBSD's prr_npages). */
  get count(): number {
    return this.all ? this.max + 1 : this.n;
  }

  /**
   * Invalidate what was recorded on every CPU i whose bit i is set in `targets`: `cur` directly,
   * each other one by an IPI. `global`: the batch may hold global (PG_G) translations, so a full
   * flush drops global entries too (a CR4.PGE toggle) instead of reloading CR3. Returns the
   * number of IPIs sent; the batch is empty afterwards.
   */
  send(cur: Cpu, targets: number, global: boolean): number {
    if (this.n === 0 && !this.all) return 0;
    this.global = global;
    const cpus = this.machine.cpus;
    let ipis = 0;
    for (let i = 0; i < cpus.length; i++) {
      if (((targets >>> i) & 1) === 0) continue;
      const c = cpus[i] as Cpu;
      if (c === cur) this.invalidateOn(c);
      else {
        this.machine.ipi(cur, c, this.handler);
        ipis++;
      }
    }
    this.clear();
    return ipis;
  }

  /** Forget what was recorded without invalidating anything. */
  clear(): void {
    this.n = 0;
    this.all = false;
  }

  private invalidateOn(c: Cpu): void {
    if (this.all) {
      if (this.global) c.flushTlb();
      else c.loadCr3(c.cr3);
      if (this.onFlushAll !== null) this.onFlushAll(c);
      return;
    }
    for (let i = 0; i < this.n; i++) c.invlpg(this.vas[i] as number);
  }
}
