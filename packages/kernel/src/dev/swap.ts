/**
 * The swap device: page-sized slots on a second disk, handed out from a bitmap with a rotor (the
 * role of 4.4BSD's swap rlist, NetBSD's swap extent and FreeBSD's blist). The VM layers' swap
 * pagers own the slots they allocate; this device only knows which are in use.
 */
import type { Counter, IoDone, PAddr } from "@vmlab/core";
import type { Services } from "../services.js";
import type { Disk } from "./disk.js";

export class SwapDevice {
  private readonly used: Uint8Array;
  private inUse = 0;
  private rotor = 0;
  readonly allocs: Counter;
  readonly fails: Counter;

  constructor(
    readonly disk: Disk,
    private readonly services: Services,
  ) {
    this.used = new Uint8Array(disk.nblocks);
    this.allocs = services.counters.counter("swap.alloc");
    this.fails = services.counters.counter("swap.full");
    services.counters.addSource((out) => {
      out["swap.used"] = this.inUse;
      out["swap.total"] = this.disk.nblocks;
    });
  }

  get slotsUsed(): number {
    return this.inUse;
  }

  get slotsTotal(): number {
    return this.used.length;
  }

  /** One free slot, or -1 when swap is full. */
  alloc(): number {
    const n = this.used.length;
    for (let i = 0; i < n; i++) {
      const s = (this.rotor + i) % n;
      if (this.used[s] === 0) {
        this.used[s] = 1;
        this.inUse++;
        this.rotor = s + 1;
        this.allocs.value++;
        return s;
      }
    }
    this.fails.value++;
    return -1;
  }

  free(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.used.length || this.used[slot] !== 1) {
      this.services.panic(`swap_pager: freeing free or bogus swap slot ${slot}`);
    }
    this.used[slot] = 0;
    this.inUse--;
    this.disk.discard(slot);
  }

  strategy(slot: number, pa: PAddr, write: boolean, done: IoDone): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.used.length || this.used[slot] !== 1) {
      this.services.panic(`swap_pager: I/O to unallocated swap slot ${slot}`);
    }
    this.disk.strategy({ write, blkno: slot, pa, iodone: done, what: `swap slot ${slot}` });
  }
}
