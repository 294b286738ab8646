/**
 * struct uvm_object: the lower layer of a map entry — a set of resident pages at offsets, a
 * reference count and pager operations (NetBSD sys/uvm/uvm_object.h, uvm_pager.h; netbsd_uvm.md
 * §2.3). Three pagers: the anonymous aobj (uvm_aobj.c: shm segments, the kernel object, the
 * user page-table region), the vnode (uvm_vnode.c) and, for completeness of the KPI, none other
 * (device mappings are not part of vmlab's MapBacking).
 */
import { hex } from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import { PG_BUSY, type UvmPage } from "./uvm_page.js";

/** What pgo_get answers for one page. */
export type PgoGet = UvmPage | "refault" | "shortage" | "error" | "eof";

let nextObjectId = 1;

export abstract class UvmObject {
  readonly id = nextObjectId++;
  /** uo_refs */
  refs = 1;
  /** memq: resident pages by offset. */
  readonly pages = new Map<number, UvmPage>();
  /** Wirings of every page of the object (uvm_obj_wirepages: SysV SHM_LOCK). */
  wiredAll = 0;
  /** Terminated (last reference gone, for aobjs): for the audit. */
  dead = false;

  abstract readonly label: string;
  /** Pages are backed by swap (PQ_AOBJ), not by a file. */
  abstract readonly swapBacked: boolean;
  /** Bytes the object covers (a vnode's grows with the file). */
  abstract get size(): number;

  /** pgo_get, one page at `offset`, not busy when returned. */
  abstract fill(vm: Uvm, offset: number): PgoGet;
  /** pgo_put, one dirty page (caller made it unwritable): start the write; false if it cannot. */
  abstract put(vm: Uvm, pg: UvmPage): boolean;
  /** pgo_detach: one reference fewer. */
  abstract detach(vm: Uvm): void;
  /** The page is being freed for good: give back its backing-store copy (swap slot). */
  abstract dropBacking(vm: Uvm, offset: number): void;

  /** uvm_pagelookup */
  lookup(offset: number): UvmPage | undefined {
    return this.pages.get(offset);
  }

  /** pgo_get with the busy protocol: a resident busy page is waited for ("uvn_get"/"uao_get"). */
  get(vm: Uvm, offset: number): PgoGet {
    const pg = this.pages.get(offset);
    if (pg) {
      if ((pg.flags & PG_BUSY) === 0) return pg;
      return vm.waitForPage(pg, `${this.label}_get`) ? "refault" : "shortage";
    }
    return this.fill(vm, offset);
  }

  /** uvm_obj_wirepages(obj, start, end): page in and wire every page (SHM_LOCK). */
  wirePages(vm: Uvm, start: number, end: number): "ok" | "shortage" | "error" {
    let off = start;
    while (off < end) {
      const got = this.get(vm, off);
      if (got === "refault") continue;
      if (typeof got === "string") {
        this.unwirePages(vm, start, off);
        return got === "shortage" ? "shortage" : "error";
      }
      vm.pages.wire(got);
      off += 4096;
    }
    return "ok";
  }

  /** uvm_obj_unwirepages */
  unwirePages(vm: Uvm, start: number, end: number): void {
    for (let off = start; off < end; off += 4096) {
      const pg = this.pages.get(off);
      if (!pg) vm.kernel.panic(`uvm_obj_unwirepages: no page at ${hex(off)} of object ${this.id}`);
      vm.pages.unwire(pg);
    }
  }

  /** Free every resident page in [start, end) that is not wired (busy ones are released). */
  freeRange(vm: Uvm, start: number, end: number): void {
    for (const pg of [...this.pages.values()]) {
      if (pg.offset < start || pg.offset >= end || pg.wireCount !== 0) continue;
      vm.releasePage(pg);
      this.dropBacking(vm, pg.offset);
    }
  }
}
