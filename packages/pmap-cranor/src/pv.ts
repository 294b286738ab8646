/**
 * pv_head, pv_entry and the pv_page allocator of Cranor's pmap (pmap.c: pmap_alloc_pv,
 * pmap_alloc_pvpage, pmap_add_pvpage, pmap_free_pv, pmap_free_pvs, pmap_free_pvpage,
 * pmap_enter_pv, pmap_remove_pv).
 *
 * - One pv_head per managed page — a lock and the list of its mappings, plus the saved PG_A|PG_M
 *   attributes (NetBSD kept those beside it in pmseg.attrs) — made the first time the page is
 *   mapped and found through the page's `md`.
 * - pv_entry { pv_next, pv_pmap, pv_va, pv_ptp }: pv_ptp is the page-table page holding the PTE
 *   (null for the kernel pmap), so a foreign PTE can be reached with pmap_tmpmap_pvepte.
 * - Entries live in pv_pages: a real page from the VM, mapped at a kernel VA with pmap_kenter_pa,
 *   holding PVE_PER_PVPAGE entries after its pv_page_info (a free list and a count; the count is
 *   also stored in the page itself, through that VA, at each change). Pages with a
 *   free entry are on pv_freepages, pages with every entry free on pv_unusedpgs. The entries are
 *   JavaScript objects belonging to their page, so shortage and page counts are real.
 * - Water marks: below PVE_LOWAT free entries an allocation grows the cache by a page
 *   (ALLOCPV_NONEED); above PVE_HIWAT a free gives an unused page back to the VM.
 * - The reserve: the last `reserve` free entries are for allocations at interrupt level, where no
 *   page can be waited for; an ordinary allocation that would dip into them must get a new page
 *   instead, and fails (PMAP_CANFAIL) or panics when there is none. Each interrupt-level
 *   allocation served from the reserve bumps `pmap.pv.reserve`.
 * - KVA for pv pages comes from a range reserved once at pmap_init (NetBSD took it from kmem_map,
 *   a submap sized at boot, with UVM_KMF_TRYLOCK), so the allocator never calls into kernel_map —
 *   or pmap_growkernel — while pmap locks are held.
 */
import type { Counter, KernelServices, Mutex, PAddr, PmapHost, VAddr, VmPage } from "@vmlab/core";
import { hex, PAGE_SIZE } from "@vmlab/core";

/** What a pv entry records of its pmap. */
export interface PvPmap {
  readonly id: number;
  readonly isKernel: boolean;
}

/** struct pv_entry. */
export class PvEntry {
  next: PvEntry | null = null;
  pmap: PvPmap | null = null;
  va: VAddr = 0;
  /** pv_ptp: the page-table page that holds the PTE (null for the kernel pmap). */
  ptp: VmPage | null = null;
  constructor(readonly page: PvPage) {}
}

/** struct pv_head (+ the page's saved attributes). */
export class PvHead {
  /** pvh_list: the mappings, newest first. */
  list: PvEntry | null = null;
  /** Saved PG_A | PG_M of the page (pmseg.attrs). */
  attrs = 0;
  /** pvh_lock. */
  readonly lock: Mutex;
  constructor(
    readonly pg: VmPage,
    kernel: KernelServices,
  ) {
    this.lock = kernel.mutex("pvh_lock", { type: "pvh" });
  }
}

const Q_NONE = 0;
const Q_FREE = 1;
const Q_UNUSED = 2;

/** struct pv_page: pv_page_info { pvpi_list, pvpi_pvfree, pvpi_nfree } + pvents[]. */
export class PvPage {
  /** pvpi_pvfree. */
  free: PvEntry | null = null;
  /** pvpi_nfree. */
  nfree: number;
  /** Which queue it is on (Q_NONE, Q_FREE = pv_freepages, Q_UNUSED = pv_unusedpgs). */
  queue = Q_NONE;
  qnext: PvPage | null = null;
  qprev: PvPage | null = null;
  readonly ents: readonly PvEntry[];

  constructor(
    readonly va: VAddr,
    readonly pg: VmPage,
    n: number,
  ) {
    const ents: PvEntry[] = [];
    for (let i = 0; i < n; i++) ents.push(new PvEntry(this));
    for (let i = n - 1; i >= 0; i--) {
      const e = ents[i] as PvEntry;
      e.next = this.free;
      this.free = e;
    }
    this.nfree = n;
    this.ents = ents;
  }
}

/** A TAILQ of pv pages. */
class PvQueue {
  head: PvPage | null = null;
  tail: PvPage | null = null;
  length = 0;

  constructor(readonly id: number) {}

  insertHead(p: PvPage): void {
    p.qprev = null;
    p.qnext = this.head;
    if (this.head !== null) this.head.qprev = p;
    else this.tail = p;
    this.head = p;
    p.queue = this.id;
    this.length++;
  }

  insertTail(p: PvPage): void {
    p.qnext = null;
    p.qprev = this.tail;
    if (this.tail !== null) this.tail.qnext = p;
    else this.head = p;
    this.tail = p;
    p.queue = this.id;
    this.length++;
  }

  remove(p: PvPage): void {
    if (p.qprev !== null) p.qprev.qnext = p.qnext;
    else this.head = p.qnext;
    if (p.qnext !== null) p.qnext.qprev = p.qprev;
    else this.tail = p.qprev;
    p.qnext = null;
    p.qprev = null;
    p.queue = Q_NONE;
    this.length--;
  }
}

/** How pv pages are mapped at kernel VA (the module's pmap_kenter_pa / pmap_kremove). */
export interface PvMapper {
  kenter(va: VAddr, pa: PAddr): void;
  kremove(va: VAddr): void;
  /** A supervisor store through the MMU (the pv_page_info header lives in the page). */
  store(va: VAddr, value: number): void;
}

export interface PvTunables {
  /** PVE_LOWAT (default PVE_PER_PVPAGE / 2). */
  readonly lowat: number;
  /** PVE_HIWAT (default PVE_LOWAT + 2 * PVE_PER_PVPAGE). */
  readonly hiwat: number;
  /** Free entries kept for interrupt-level allocations. */
  readonly reserve: number;
  /** Kernel VA reserved for pv pages, in pages. */
  readonly kvaPages: number;
}

export class PvPool {
  /** pv_heads by page index (also in each page's md). */
  readonly heads: (PvHead | undefined)[] = [];
  /** Every pv page. */
  readonly pages = new Set<PvPage>();
  /** pv_freepages: pages with at least one free entry and one in use. */
  readonly freepages = new PvQueue(Q_FREE);
  /** pv_unusedpgs: pages with every entry free. */
  readonly unusedpgs = new PvQueue(Q_UNUSED);
  /** pv_nfpvents: free entries over all pv pages. */
  nfpvents = 0;
  /** pvalloc_lock. */
  readonly lock: Mutex;
  /** KVA reserved for pv pages, and the part not in use (a stack of page addresses). */
  kvaStart: VAddr = 0;
  kvaPages = 0;
  private readonly kvaFree: VAddr[] = [];
  private hostRef: PmapHost | null = null;
  private readonly cAlloc: Counter;
  private readonly cFree: Counter;
  private readonly cPageAlloc: Counter;
  private readonly cPageFree: Counter;
  private readonly cReserve: Counter;

  /** Offset of pvpi_nfree in the page (the last word of pv_page_info). */
  readonly nfreeOffset: number;

  constructor(
    /** PVE_PER_PVPAGE. */
    readonly perPage: number,
    /** sizeof(struct pv_page_info). */
    infoBytes: number,
    readonly tune: PvTunables,
    private readonly kernel: KernelServices,
    private readonly mapper: PvMapper,
    /** Whether the current kernel path runs at interrupt level. */
    private readonly atInterrupt: () => boolean,
  ) {
    this.nfreeOffset = infoBytes - 4;
    this.lock = kernel.mutex("pvalloc_lock");
    const c = kernel.counters;
    this.cAlloc = c.counter("pmap.pv.alloc");
    this.cFree = c.counter("pmap.pv.free");
    this.cPageAlloc = c.counter("pmap.pvpage.alloc");
    this.cPageFree = c.counter("pmap.pvpage.free");
    this.cReserve = c.counter("pmap.pv.reserve");
  }

  /**
   * pmap_init's part: reserve the pv pages' KVA and allocate pv_initpage (NetBSD: "pmap_init:
   * pv_initpage" if it cannot). Called before any pmap lock exists in use.
   */
  init(host: PmapHost): void {
    this.hostRef = host;
    const n = this.tune.kvaPages;
    const va = host.kvaAlloc(n * PAGE_SIZE);
    if (!(va > 0)) this.kernel.panic("pmap_init: no kernel VA for pv pages");
    this.kvaStart = va;
    this.kvaPages = n;
    for (let i = n - 1; i >= 0; i--) this.kvaFree.push(va + i * PAGE_SIZE);
    this.lock.lock("pmap_init");
    const ok = this.allocPvpage(false);
    this.lock.unlock("pmap_init");
    if (!ok) this.kernel.panic("pmap_init: pv_initpage");
  }

  /** The pv_head of a managed page, made on first use. */
  head(pg: VmPage): PvHead {
    const i = pg.index;
    let h = this.heads[i];
    if (h === undefined) {
      h = new PvHead(pg, this.kernel);
      this.heads[i] = h;
      pg.md = h;
    }
    return h;
  }

  /** The pv_head of a page if it was ever mapped. */
  peek(pg: VmPage): PvHead | undefined {
    return this.heads[pg.index];
  }

  // ------------------------------------------------------------------ entries

  /**
   * pmap_alloc_pv(ALLOCPV_NEED): a free pv entry, or null when none can be had. At interrupt
   * level the reserve may be used; otherwise a page is allocated instead of dipping into it.
   */
  alloc(): PvEntry | null {
    const intr = this.atInterrupt();
    this.lock.lock("pmap_alloc_pv");
    if (!intr && this.nfpvents <= this.tune.reserve && !this.allocPvpage(false)) {
      this.lock.unlock("pmap_alloc_pv");
      return null;
    }
    let dipped = this.nfpvents <= this.tune.reserve;
    let pve = this.take();
    if (pve === null && this.allocPvpage(intr)) {
      pve = this.take();
      dipped = false; // from a page just allocated, not from the reserve
    }
    if (pve !== null) {
      this.cAlloc.value++;
      if (intr && dipped) this.cReserve.value++;
      // Below the low-water mark: grow the cache now (ALLOCPV_NONEED; failure is fine).
      if (!intr && this.nfpvents < this.tune.lowat) this.allocPvpage(false);
    }
    this.lock.unlock("pmap_alloc_pv");
    return pve;
  }

  /** Take an entry off the first page of pv_freepages (moving an unused page there if needed). */
  private take(): PvEntry | null {
    let p = this.freepages.head;
    if (p === null) {
      p = this.unusedpgs.head;
      if (p === null) return null;
      this.unusedpgs.remove(p);
      this.freepages.insertTail(p);
    }
    const pve = p.free;
    if (pve === null) return this.kernel.panic("pmap_alloc_pv: pvpi_nfree off");
    p.free = pve.next;
    pve.next = null;
    p.nfree--;
    this.mapper.store(p.va + this.nfreeOffset, p.nfree);
    this.nfpvents--;
    if (p.nfree === 0) this.freepages.remove(p);
    return pve;
  }

  /** pmap_free_pv: give an entry back; above PVE_HIWAT an unused page goes back to the VM. */
  free(pve: PvEntry): void {
    this.lock.lock("pmap_free_pv");
    this.freeLocked(pve);
    if (this.nfpvents > this.tune.hiwat && this.unusedpgs.head !== null) this.freePvpage();
    this.lock.unlock("pmap_free_pv");
  }

  /** pmap_free_pvs: give back a list of entries chained through `next`. */
  freeList(list: PvEntry | null): void {
    if (list === null) return;
    this.lock.lock("pmap_free_pvs");
    for (let e: PvEntry | null = list; e !== null; ) {
      const next: PvEntry | null = e.next;
      this.freeLocked(e);
      e = next;
    }
    while (this.nfpvents > this.tune.hiwat && this.unusedpgs.head !== null) this.freePvpage();
    this.lock.unlock("pmap_free_pvs");
  }

  private freeLocked(pve: PvEntry): void {
    const p = pve.page;
    pve.pmap = null;
    pve.ptp = null;
    pve.va = 0;
    pve.next = p.free;
    p.free = pve;
    p.nfree++;
    this.mapper.store(p.va + this.nfreeOffset, p.nfree);
    this.nfpvents++;
    this.cFree.value++;
    if (p.nfree === this.perPage) {
      if (p.queue === Q_FREE) this.freepages.remove(p);
      this.unusedpgs.insertHead(p);
    } else if (p.nfree === 1) {
      this.freepages.insertHead(p);
    }
  }

  // ------------------------------------------------------------------ pages

  /**
   * pmap_alloc_pvpage: a VA from the pv range, a page from the VM (`interrupt` for allocations at
   * interrupt level), pmap_kenter_pa, then pmap_add_pvpage onto pv_unusedpgs. False if either
   * is unavailable (the VA is kept for next time, as pv_cachedva was).
   */
  private allocPvpage(interrupt: boolean): boolean {
    const host = this.hostRef;
    if (host === null) return false;
    const va = this.kvaFree.pop();
    if (va === undefined) return false;
    const pg = host.allocPage({ interrupt });
    if (pg === null) {
      this.kvaFree.push(va);
      return false;
    }
    this.mapper.kenter(va, pg.pa);
    const p = new PvPage(va, pg, this.perPage);
    this.mapper.store(va + this.nfreeOffset, p.nfree);
    this.pages.add(p);
    this.unusedpgs.insertTail(p);
    this.nfpvents += this.perPage;
    this.cPageAlloc.value++;
    this.kernel.trace.emit("pmap", "pvpage.alloc", { va, pa: pg.pa, interrupt });
    return true;
  }

  /** pmap_free_pvpage: the first unused page goes back to the VM. */
  private freePvpage(): void {
    const p = this.unusedpgs.head;
    const host = this.hostRef;
    if (p === null || host === null) return;
    this.unusedpgs.remove(p);
    this.pages.delete(p);
    this.nfpvents -= this.perPage;
    this.mapper.kremove(p.va);
    host.freePage(p.pg);
    this.kvaFree.push(p.va);
    this.cPageFree.value++;
    this.kernel.trace.emit("pmap", "pvpage.free", { va: p.va, pa: p.pg.pa });
  }

  /** KVA pages of the pv range not in use. */
  get kvaAvailable(): number {
    return this.kvaFree.length;
  }

  // ------------------------------------------------------------------ lists (pvh_lock held)

  /** pmap_enter_pv: push a mapping onto the head of the page's list. */
  static enter(pvh: PvHead, pve: PvEntry, pmap: PvPmap, va: VAddr, ptp: VmPage | null): void {
    pve.pmap = pmap;
    pve.va = va;
    pve.ptp = ptp;
    pve.next = pvh.list;
    pvh.list = pve;
  }

  /** pmap_remove_pv: unlink (pmap, va) from the page's list and return its entry. */
  remove(pvh: PvHead, pmap: PvPmap, va: VAddr): PvEntry {
    let prev: PvEntry | null = null;
    for (let e = pvh.list; e !== null; prev = e, e = e.next) {
      if (e.pmap === pmap && e.va === va) {
        if (prev === null) pvh.list = e.next;
        else prev.next = e.next;
        e.next = null;
        return e;
      }
    }
    return this.kernel.panic(`pmap_remove_pv: pmap ${pmap.id} va ${hex(va)} not on the pv list of ${hex(pvh.pg.pa)}`);
  }
}
