/**
 * uvm_aobj: anonymous uvm_objects, paged to swap (NetBSD sys/uvm/uvm_aobj.c). Used for SysV
 * shared memory segments (shm_object), for uvm.kernel_object behind kmem, and for the user
 * page-table region of pmaps that keep page tables in the user map. Swap slots are kept per page
 * index in a hash (uao_swhash: large objects, like the 512 GiB page-table region of amd64, are
 * sparse).
 */
import { hex, PAGE_SIZE, type ShmObject } from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import { type PgoGet, UvmObject } from "./uvm_object.js";
import { PG_BUSY, PG_FAKE, type UvmPage } from "./uvm_page.js";
import { pagerUnbusy } from "./uvm_pager.js";
import { swapAlloc, swapGet, swapPut } from "./uvm_swap.js";

export class UvmAobj extends UvmObject implements ShmObject {
  readonly swapBacked = true;
  /** uao_swhash: page index → swap slot. */
  readonly swslots = new Map<number, number>();

  constructor(
    private readonly bytes: number,
    readonly label: string,
  ) {
    super();
  }

  get size(): number {
    return this.bytes;
  }

  /** uao_get for a page not resident: from swap if it has a slot, else a zero-filled page. */
  fill(vm: Uvm, offset: number): PgoGet {
    if (offset < 0 || offset >= this.bytes) return "eof";
    const pg = vm.pages.alloc(this, offset, null);
    if (!pg) return vm.waitForMemory("uao_getpage") ? "refault" : "shortage";
    const slot = this.swslots.get(offset / PAGE_SIZE);
    if (slot === undefined) {
      vm.pages.zero(pg);
      pg.flags &= ~(PG_BUSY | PG_FAKE);
      vm.pages.activate(pg);
      vm.counters.faultZerofill.value++;
      return pg;
    }
    const got = swapGet(vm, pg, slot, "uao_get");
    pagerUnbusy(pg);
    if (got === "ok") return pg;
    if (pg.uobject === this) vm.pages.freePage(pg);
    return got;
  }

  /** uao_put: write the page to its swap slot (allocated on first pageout). */
  put(vm: Uvm, pg: UvmPage): boolean {
    const idx = pg.offset / PAGE_SIZE;
    let slot = this.swslots.get(idx);
    if (slot === undefined) {
      slot = swapAlloc(vm);
      if (slot < 0) return false;
      this.swslots.set(idx, slot);
    }
    swapPut(vm, pg, slot);
    return true;
  }

  /** uao_dropswap */
  dropBacking(vm: Uvm, offset: number): void {
    const idx = offset / PAGE_SIZE;
    const slot = this.swslots.get(idx);
    if (slot === undefined) return;
    this.swslots.delete(idx);
    vm.io.swapFree(slot);
  }

  /** uao_detach: at the last reference free every page and swap slot. */
  detach(vm: Uvm): void {
    if (this.refs <= 0) vm.kernel.panic(`uao_detach: aobj ${this.id} (${this.label}) has no references`);
    if (--this.refs > 0) return;
    for (const pg of [...this.pages.values()]) {
      if (pg.wireCount !== 0) vm.kernel.panic(`uao_detach: wired page ${hex(pg.pa)} in dying aobj ${this.id}`);
      vm.releasePage(pg);
    }
    for (const slot of this.swslots.values()) vm.io.swapFree(slot);
    this.swslots.clear();
    this.dead = true;
  }
}

/** uao_create */
export function uaoCreate(size: number, label: string): UvmAobj {
  return new UvmAobj(size, label);
}
