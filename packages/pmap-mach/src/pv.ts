/**
 * pv_table: who maps each managed page (4.4BSD i386 pmap.c, NetBSD pmap.old pv_page pools).
 *
 * - One pv_entry per managed page, indexed by the page's index (4.4BSD `pa_to_pvh(pa)` =
 *   `&pv_table[pa_index(pa)]`). The list head is embedded: the slot itself holds the first
 *   mapping, and `pmap === null` means the page has no mappings.
 * - Further mappings are chained after the head. Those entries come from pv pages (NetBSD
 *   `pv_page`): a physical page from the VM, mapped at a kernel virtual address, holding NPVPPG
 *   entries after its header. The entries are JavaScript objects, but each belongs to its pv page
 *   so that shortage and the page count are real; a pv page is freed when all its entries are.
 * - pmap_attributes: the PG_M|PG_A bits harvested from mappings as they are destroyed.
 *
 * Pages are allocated and freed only outside the pmap and pv locks (`reserve` before, `reclaim`
 * after), because allocating or freeing a page and its kernel VA can call back into the pmap.
 */
import type { Counter, KernelServices, PmapHost, VAddr, VmPage } from "@vmlab/core";
import { hex, PAGE_SIZE } from "@vmlab/core";

/** What a pv entry records of its pmap. */
export interface PvPmap {
  readonly id: number;
}

/** struct pv_entry { pv_next, pv_pmap, pv_va }. */
export class PvEntry {
  next: PvEntry | null = null;
  pmap: PvPmap | null = null;
  va = 0;
  /** The pv page the entry lives in; null for a head embedded in pv_table. */
  constructor(readonly page: PvPage | null) {}
}

/** struct pv_page: a page of pv entries with its free list. */
export class PvPage {
  readonly free: PvEntry[] = [];
  /** On the list of pv pages that have free entries. */
  listed = false;
  constructor(
    readonly va: VAddr,
    readonly pg: VmPage,
    entries: number,
  ) {
    for (let i = 0; i < entries; i++) this.free.push(new PvEntry(this));
  }
}

/** How pv pages get mapped into kernel VA (the module's kenter/kremove). */
export interface PvMapper {
  kenter(va: VAddr, pa: number): void;
  kremove(va: VAddr): void;
}

export class PvTable {
  /** pv_table heads by page index (created on first use). */
  heads: (PvEntry | undefined)[] = [];
  /** pmap_attributes: saved PG_A | PG_M per page index. */
  attrs: Uint8Array = new Uint8Array(0);
  /** Every pv page. */
  readonly pages = new Set<PvPage>();
  /** pv pages with at least one free entry. */
  private readonly avail: PvPage[] = [];
  /** Free chained entries over all pv pages, and pv pages whose entries are all free. */
  nfree = 0;
  private emptyPages = 0;
  private readonly cAlloc: Counter;
  private readonly cFree: Counter;
  private readonly cPageAlloc: Counter;
  private readonly cPageFree: Counter;

  constructor(
    readonly npvppg: number,
    private readonly kernel: KernelServices,
    private readonly mapper: PvMapper,
  ) {
    this.cAlloc = kernel.counters.counter("pmap.pv.alloc");
    this.cFree = kernel.counters.counter("pmap.pv.free");
    this.cPageAlloc = kernel.counters.counter("pmap.pvpage.alloc");
    this.cPageFree = kernel.counters.counter("pmap.pvpage.free");
  }

  /** pmap_init: size the table for `pages` page indices (it grows if the VM uses more). */
  size(pages: number): void {
    this.heads = new Array<PvEntry | undefined>(pages);
    this.attrs = new Uint8Array(pages);
  }

  /** pa_to_pvh: the embedded head for a page. */
  head(pg: VmPage): PvEntry {
    const i = pg.index;
    let h = this.heads[i];
    if (h === undefined) {
      if (i >= this.attrs.length) this.grow(i + 1);
      h = new PvEntry(null);
      this.heads[i] = h;
    }
    return h;
  }

  /** Saved attribute bits of a page. */
  attr(pg: VmPage): number {
    const i = pg.index;
    return i < this.attrs.length ? (this.attrs[i] as number) : 0;
  }

  saveAttr(pg: VmPage, bits: number): void {
    const i = pg.index;
    if (i >= this.attrs.length) this.grow(i + 1);
    this.attrs[i] = (this.attrs[i] as number) | bits;
  }

  clearAttr(pg: VmPage, bits: number): void {
    const i = pg.index;
    if (i < this.attrs.length) this.attrs[i] = (this.attrs[i] as number) & ~bits;
  }

  private grow(n: number): void {
    const len = Math.max(n, this.attrs.length * 2);
    const a = new Uint8Array(len);
    a.set(this.attrs);
    this.attrs = a;
    this.heads.length = Math.max(this.heads.length, len);
  }

  /**
   * Whether pmap_enter of pg at (pmap, va) can proceed without allocating: a chained entry is
   * free, the head is free, or (pmap, va) is already on the list (a protection/wiring change).
   */
  canInsert(pg: VmPage, pmap: PvPmap, va: VAddr): boolean {
    if (this.nfree > 0) return true;
    for (let e: PvEntry | null = this.head(pg); e !== null && e.pmap !== null; e = e.next) {
      if (e.pmap === pmap && e.va === va) return true;
    }
    return this.head(pg).pmap === null;
  }

  /**
   * Make sure a mapping of pg can be added without allocating under the locks: allocate a pv
   * page when the head is taken and no chained entry is free. False when no page is available
   * and the caller may fail (PMAP_CANFAIL); otherwise a shortage panics.
   */
  reserve(host: PmapHost, pg: VmPage, pmap: PvPmap, va: VAddr, canFail: boolean): boolean {
    if (this.canInsert(pg, pmap, va)) return true;
    const page = host.allocPage({});
    if (page === null) {
      if (canFail) return false;
      return this.kernel.panic("pmap_alloc_pv: no memory for a pv page");
    }
    const kva = host.kvaAlloc(PAGE_SIZE);
    this.mapper.kenter(kva, page.pa);
    const p = new PvPage(kva, page, this.npvppg);
    this.pages.add(p);
    this.nfree += this.npvppg;
    this.emptyPages++;
    p.listed = true;
    this.avail.push(p);
    this.cPageAlloc.value++;
    this.kernel.trace.emit("pmap", "pvpage.alloc", { va: kva, pa: page.pa });
    return true;
  }

  /** pmap_enter_pv: record that `pmap` maps pg at va. Needs a reserved entry if the head is taken. */
  insert(pg: VmPage, pmap: PvPmap, va: VAddr): void {
    const h = this.head(pg);
    if (h.pmap === null) {
      h.pmap = pmap;
      h.va = va;
      return;
    }
    const e = this.allocEntry();
    e.pmap = pmap;
    e.va = va;
    e.next = h.next;
    h.next = e;
  }

  /**
   * pmap_remove_pv: forget that `pmap` maps pg at va. When the head is the mapping, the next
   * entry is copied into the head and freed (4.4BSD), so the head stays embedded.
   */
  remove(pg: VmPage, pmap: PvPmap, va: VAddr): void {
    const h = this.head(pg);
    if (h.pmap === pmap && h.va === va) {
      const n = h.next;
      if (n === null) {
        h.pmap = null;
        h.va = 0;
      } else {
        h.pmap = n.pmap;
        h.va = n.va;
        h.next = n.next;
        this.freeEntry(n);
      }
      return;
    }
    let prev = h;
    for (let e = h.next; e !== null; prev = e, e = e.next) {
      if (e.pmap === pmap && e.va === va) {
        prev.next = e.next;
        this.freeEntry(e);
        return;
      }
    }
    this.kernel.panic(`pmap_remove_pv: pmap ${pmap.id} va ${hex(va)} not on the pv list of page ${hex(pg.pa)}`);
  }

  private allocEntry(): PvEntry {
    const p = this.avail[this.avail.length - 1];
    if (p === undefined) return this.kernel.panic("pmap_alloc_pv: no free pv entry reserved");
    const e = p.free.pop() as PvEntry;
    if (p.free.length === this.npvppg - 1) this.emptyPages--;
    if (p.free.length === 0) {
      this.avail.pop();
      p.listed = false;
    }
    this.nfree--;
    this.cAlloc.value++;
    return e;
  }

  private freeEntry(e: PvEntry): void {
    const p = e.page as PvPage;
    e.pmap = null;
    e.next = null;
    e.va = 0;
    p.free.push(e);
    this.nfree++;
    this.cFree.value++;
    if (!p.listed) {
      p.listed = true;
      this.avail.push(p);
    }
    if (p.free.length === this.npvppg) this.emptyPages++;
  }

  /** pmap_free_pvpage: give back every pv page whose entries are all free (outside the locks). */
  reclaim(host: PmapHost): void {
    if (this.emptyPages === 0) return;
    for (let i = this.avail.length - 1; i >= 0; i--) {
      const p = this.avail[i] as PvPage;
      if (p.free.length !== this.npvppg) continue;
      this.avail.splice(i, 1);
      p.listed = false;
      this.pages.delete(p);
      this.nfree -= this.npvppg;
      this.emptyPages--;
      this.mapper.kremove(p.va);
      host.kvaFree(p.va, PAGE_SIZE);
      host.freePage(p.pg);
      this.cPageFree.value++;
      this.kernel.trace.emit("pmap", "pvpage.free", { va: p.va, pa: p.pg.pa });
    }
  }

  /** Entries in use in a pv page (audit). */
  inUse(p: PvPage): number {
    return this.npvppg - p.free.length;
  }
}
