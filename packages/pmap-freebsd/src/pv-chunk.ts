/**
 * pv entries in pv chunks (Peter Wemm, 2006; sys/{i386,amd64}/{i386,amd64}/pmap.c get_pv_entry,
 * free_pv_entry, free_pv_chunk, pmap_pv_reclaim, pmap_ptelist_alloc/free/init; sys/_pv_entry.h).
 *
 * - A pv_chunk is one page owned by one pmap: a 64-byte header — `pc_pmap`, `pc_list` (the pmap's
 *   pm_pvchunk TAILQ), `pc_map[_NPCM]` (the free bitmap, 1 = free) — then `_NPCPV` pv entries
 *   (336 12-byte entries on i386, 168 24-byte ones on amd64). A pv entry is only `pv_va` and its
 *   `pv_list` link; its pmap is found from its address: `pv_to_chunk(pv) = pv & ~PAGE_MASK`,
 *   `PV_PMAP(pv) = pv_to_chunk(pv)->pc_pmap`. The header's pc_pmap and pc_map words are also
 *   stored in the page itself, through its kernel address, at every change (and audited).
 * - The pmap's chunks: non-full ones at the head of pm_pvchunk; a chunk that becomes full moves to
 *   the tail, one that gets a free entry to the head; a chunk with every bit free is freed at
 *   once (page and VA). Every chunk is also on the global LRU `pv_chunks` (pc_lru) that
 *   pmap_pv_reclaim scans from its least recently used end.
 * - The per-page pv list is in the page's machine-dependent data (`md.pv_list`), and superpage
 *   mappings are on `pa_to_pvh(pa)` (pv_table, one md_page per 2/4 MiB physical frame).
 * - Chunk KVA (pmap_pv_chunk_kva): i386 takes it from ONE fixed block reserved at pmap_init
 *   (`pv_chunkbase`, `pv_maxchunks` pages) with the free list threaded through the block's empty
 *   PTEs (`pv_vafree`: each free slot's PTE holds the next free VA, PG_V never set); amd64 uses the
 *   direct map (PHYS_TO_DMAP of the chunk page). The choice is made in pvChunkKvaAlloc/Free only.
 * - Erratum `freebsd-2006-pvchunk-kva-recursion` (i386, seed 003): the first i386 chunk commit
 *   (April 2006) instead took each chunk's VA from kernel_map (kmem_alloc_nofault) and gave it
 *   back (kmem_free) when the chunk was freed — while the pmap lock and the pv lock were held.
 *   Those calls lock kernel_map and allocate / free vm_map entries, and kmem_free's vm_map_delete
 *   calls pmap_remove on the kernel pmap: the lock order reversal (pmap → kernel_map against
 *   kernel_map → pmap) and the recursion into the pmap. Peter Wemm's "Interim fix" (28 Apr 2006)
 *   went back to one fixed reservation; `PvChunkHost.kmemAllocNofault / kmemFreeKva` model the
 *   kernel_map side.
 */
import type { Counter, KernelServices, PAddr, PmapHost, VAddr, VmPage } from "@vmlab/core";
import * as core from "@vmlab/core";
import type { FreebsdLayout } from "./layout.js";

const { hex, PAGE_SIZE } = core;

/** What a chunk records of its pmap. */
export interface PvOwner {
  readonly id: number;
  readonly isKernel: boolean;
  /** pm_pvchunk: the pmap's chunks, non-full ones first. */
  pvHead: PvChunk | null;
  pvTail: PvChunk | null;
}

/** struct md_page: the pv list of a page (or of a 2/4 MiB frame in pv_table) and saved attributes. */
export class MdPage {
  pvHead: PvEntry | null = null;
  pvTail: PvEntry | null = null;
  /** pv_list_count. */
  pvCount = 0;
  /** PG_A | PG_M of mappings already destroyed (FreeBSD: vm_page_dirty / PG_REFERENCED). */
  attrs = 0;
  constructor(readonly pa: PAddr) {}
}

/** struct pv_entry: pv_va and the pv_list link; `addr` is where it lives in its chunk. */
export class PvEntry {
  va: VAddr = 0;
  next: PvEntry | null = null;
  prev: PvEntry | null = null;
  constructor(
    readonly chunk: PvChunk,
    readonly idx: number,
    readonly addr: VAddr,
  ) {}
}

/** struct pv_chunk. */
export class PvChunk {
  pmap: PvOwner | null = null;
  /** pc_map: 1 = free, as 32-bit words. */
  readonly map: Uint32Array;
  nfree = 0;
  next: PvChunk | null = null;
  prev: PvChunk | null = null;
  lruNext: PvChunk | null = null;
  lruPrev: PvChunk | null = null;
  onLru = false;
  readonly ents: PvEntry[] = [];
  constructor(
    readonly kva: VAddr,
    readonly pg: VmPage,
    L: FreebsdLayout,
  ) {
    this.map = new Uint32Array(L.npcmWords);
    for (let i = 0; i < L.npcpv; i++) this.ents.push(new PvEntry(this, i, kva + L.pcEntryOffset + i * L.pvEntryBytes));
  }
}

/** What the allocator needs from the pmap module. */
export interface PvChunkHost {
  /** pmap_qenter of one page / pmap_qremove (kernel mappings of chunk pages, i386). */
  qenter(va: VAddr, pa: PAddr): void;
  qremove(va: VAddr): void;
  /** A supervisor 32-bit load / store through the MMU. */
  load(va: VAddr): number;
  store(va: VAddr, v: number): void;
  /** vtopte(va) (i386): where the ptelist keeps its links. */
  vtopte(va: VAddr): VAddr;
  /** PHYS_TO_DMAP (amd64). */
  dmap(pa: PAddr): VAddr;
  /** kmem_alloc_nofault(kernel_map, PAGE_SIZE): one page of KVA from kernel_map (erratum path). */
  kmemAllocNofault(): VAddr;
  /** kmem_free(kernel_map, va, PAGE_SIZE): vm_map_remove of it (erratum path). */
  kmemFreeKva(va: VAddr): void;
}

/** The erratum that puts the 2006 dynamic chunk-KVA path back (docs/errata.md). */
export const ERRATUM_PVCHUNK_KVA = "freebsd-2006-pvchunk-kva-recursion";

export interface PvTunables {
  /** pv_entry_max (rounded up to a multiple of _NPCPV). */
  readonly pvEntryMax: number;
}

export class PvChunks {
  /** pc_freemask. */
  readonly freeMask: Uint32Array;
  /** pv_chunks: the global LRU. */
  lruHead: PvChunk | null = null;
  lruTail: PvChunk | null = null;
  /** Chunks by page VA (pv_to_chunk). */
  readonly byVa = new Map<VAddr, PvChunk>();
  pvEntryCount = 0;
  readonly pvEntryMax: number;
  readonly highWater: number;
  /** pv_maxchunks and pv_chunkbase (i386), pv_vafree: the first free VA (0 = none). */
  readonly maxChunks: number;
  chunkBase: VAddr = 0;
  vafree: VAddr = 0;
  /** amd64: chunks come from the direct map (no KVA block). */
  readonly useDmap: boolean;
  /**
   * i386 with erratum freebsd-2006-pvchunk-kva-recursion: each chunk's VA from kernel_map
   * (kmem_alloc_nofault) and back to it (kmem_free) — no fixed block, no pv_vafree.
   */
  readonly dynamicKva: boolean;
  private hostRef: PmapHost | null = null;
  private warned = false;
  readonly cAlloc: Counter;
  readonly cFree: Counter;
  readonly cChunkAllocs: Counter;
  readonly cChunkFrees: Counter;
  readonly cTryfail: Counter;
  readonly cReclaimed: Counter;

  constructor(
    readonly L: FreebsdLayout,
    tune: PvTunables,
    private readonly kernel: KernelServices,
    private readonly mm: PvChunkHost,
  ) {
    const n = L.npcpv;
    const mask = new Uint32Array(L.npcmWords).fill(0xffff_ffff);
    const rem = n % 32;
    if (rem !== 0) mask[L.npcmWords - 1] = (2 ** rem - 1) >>> 0;
    this.freeMask = mask;
    this.pvEntryMax = Math.ceil(tune.pvEntryMax / n) * n;
    this.highWater = Math.floor((9 * this.pvEntryMax) / 10);
    this.maxChunks = this.pvEntryMax / n;
    this.useDmap = L.machine === "amd64";
    this.dynamicKva = !this.useDmap && kernel.erratum(ERRATUM_PVCHUNK_KVA);
    const c = kernel.counters;
    this.cAlloc = c.counter("pmap.pv.alloc");
    this.cFree = c.counter("pmap.pv.free");
    this.cChunkAllocs = c.counter("vm.pmap.pc_chunk_allocs");
    this.cChunkFrees = c.counter("vm.pmap.pc_chunk_frees");
    this.cTryfail = c.counter("vm.pmap.pc_chunk_tryfail");
    this.cReclaimed = c.counter("pmap.pv.reclaimed");
    // The sysctls vm.pmap.pv_entry_count and vm.pmap.pc_chunk_count (chunks live now).
    c.addSource((out) => {
      out["vm.pmap.pv_entry_count"] = this.pvEntryCount;
      out["vm.pmap.pc_chunk_count"] = this.cChunkAllocs.value - this.cChunkFrees.value;
    });
  }

  /** pmap_init's part: pv_chunkbase = kmem_alloc_nofault(PAGE_SIZE * pv_maxchunks), ptelist init. */
  init(host: PmapHost): void {
    this.hostRef = host;
    if (this.useDmap || this.dynamicKva) return;
    const va = host.kvaAlloc(this.maxChunks * PAGE_SIZE);
    if (!(va > 0)) this.kernel.panic("pmap_init: not enough kvm for pv chunks");
    this.chunkBase = va;
    this.ptelistInit(va, this.maxChunks);
  }

  private get host(): PmapHost {
    return this.hostRef ?? this.kernel.panic("get_pv_entry: before pmap_init");
  }

  // ------------------------------------------------------------------ the ptelist (pv_vafree)

  /** pmap_ptelist_init: thread every page of the block onto the free list, lowest first. */
  private ptelistInit(base: VAddr, npages: number): void {
    this.vafree = 0;
    for (let i = npages - 1; i >= 0; i--) this.ptelistFree(base + i * PAGE_SIZE);
  }

  /** pmap_ptelist_alloc: take the first free VA; its PTE holds the next one. 0 when exhausted. */
  private ptelistAlloc(): VAddr {
    const va = this.vafree;
    if (va === 0) return 0;
    const pte = this.mm.vtopte(va);
    const next = this.mm.load(pte);
    if ((next & 1) !== 0) this.kernel.panic("pmap_ptelist_alloc: va with PG_V set!");
    this.vafree = next;
    this.mm.store(pte, 0);
    return va;
  }

  /** pmap_ptelist_free: push va, storing the old head in its (invalid) PTE. */
  private ptelistFree(va: VAddr): void {
    const pte = this.mm.vtopte(va);
    if ((this.mm.load(pte) & 1) !== 0) this.kernel.panic("pmap_ptelist_free: freeing va with PG_V set!");
    this.mm.store(pte, this.vafree);
    this.vafree = va;
  }

  /**
   * The chunk-KVA allocator in one place: a VA from pv_vafree on i386, PHYS_TO_DMAP(pa) on amd64;
   * under the 2006 erratum kmem_alloc_nofault(kernel_map, PAGE_SIZE), called with the pmap and pv
   * locks held. 0 when none can be had.
   */
  pvChunkKvaAlloc(pa: PAddr): VAddr {
    if (this.useDmap) return this.mm.dmap(pa);
    if (this.dynamicKva) return this.mm.kmemAllocNofault();
    return this.ptelistAlloc();
  }

  /** Whether a chunk VA could be had now (pv_vafree != 0; kernel_map is asked each time). */
  get kvaAvailable(): boolean {
    return this.useDmap || this.dynamicKva || this.vafree !== 0;
  }

  /** Give a chunk's VA back: pv_vafree, or (2006 erratum) kmem_free to kernel_map. */
  pvChunkKvaFree(va: VAddr): void {
    if (this.useDmap) return;
    if (this.dynamicKva) this.mm.kmemFreeKva(va);
    else this.ptelistFree(va);
  }

  /** Free VAs in the block (audit, tests). */
  vafreeCount(): number {
    let n = 0;
    for (let va = this.vafree; va !== 0 && n <= this.maxChunks; va = this.mm.load(this.mm.vtopte(va))) n++;
    return n;
  }

  // ------------------------------------------------------------------ chunk lists

  private pmInsertHead(pm: PvOwner, pc: PvChunk): void {
    pc.prev = null;
    pc.next = pm.pvHead;
    if (pm.pvHead !== null) pm.pvHead.prev = pc;
    else pm.pvTail = pc;
    pm.pvHead = pc;
  }

  private pmInsertTail(pm: PvOwner, pc: PvChunk): void {
    pc.next = null;
    pc.prev = pm.pvTail;
    if (pm.pvTail !== null) pm.pvTail.next = pc;
    else pm.pvHead = pc;
    pm.pvTail = pc;
  }

  private pmRemove(pm: PvOwner, pc: PvChunk): void {
    if (pc.prev !== null) pc.prev.next = pc.next;
    else pm.pvHead = pc.next;
    if (pc.next !== null) pc.next.prev = pc.prev;
    else pm.pvTail = pc.prev;
    pc.next = null;
    pc.prev = null;
  }

  lruInsertTail(pc: PvChunk): void {
    pc.lruNext = null;
    pc.lruPrev = this.lruTail;
    if (this.lruTail !== null) this.lruTail.lruNext = pc;
    else this.lruHead = pc;
    this.lruTail = pc;
    pc.onLru = true;
  }

  lruRemove(pc: PvChunk): void {
    if (!pc.onLru) return;
    if (pc.lruPrev !== null) pc.lruPrev.lruNext = pc.lruNext;
    else this.lruHead = pc.lruNext;
    if (pc.lruNext !== null) pc.lruNext.lruPrev = pc.lruPrev;
    else this.lruTail = pc.lruPrev;
    pc.lruNext = null;
    pc.lruPrev = null;
    pc.onLru = false;
  }

  /** pv_to_chunk(pv)->pc_pmap: the owning pmap, from the entry's address. */
  pvPmap(pv: PvEntry): PvOwner {
    const pc = this.byVa.get(pv.addr - (pv.addr % PAGE_SIZE));
    if (pc === undefined || pc.pmap === null) return this.kernel.panic(`PV_PMAP: no chunk at ${hex(pv.addr)}`);
    return pc.pmap;
  }

  /** Store pc_map word i (and its neighbour on amd64 is just the next word) in the page. */
  private storeMap(pc: PvChunk, i: number): void {
    this.mm.store(pc.kva + this.L.pcMapOffset + i * 4, pc.map[i] as number);
  }

  // ------------------------------------------------------------------ get / free

  /**
   * Take a free entry from the pmap's first chunk, or null when it has none. A chunk made full
   * moves to the tail of pm_pvchunk.
   */
  takeFromPmap(pm: PvOwner): PvEntry | null {
    const pc = pm.pvHead;
    if (pc === null || pc.nfree === 0) return null;
    const map = pc.map;
    for (let f = 0; f < map.length; f++) {
      const w = map[f] as number;
      if (w === 0) continue;
      const bit = 31 - Math.clz32(w & -w);
      map[f] = (w & ~(1 << bit)) >>> 0;
      this.storeMap(pc, f);
      pc.nfree--;
      if (pc.nfree === 0) {
        this.pmRemove(pm, pc);
        this.pmInsertTail(pm, pc);
      }
      this.lruRemove(pc);
      this.lruInsertTail(pc);
      this.accountAlloc();
      return pc.ents[f * 32 + bit] as PvEntry;
    }
    return this.kernel.panic(`get_pv_entry: chunk ${hex(pc.kva)} says ${pc.nfree} free but its map is empty`);
  }

  private accountAlloc(): void {
    this.pvEntryCount++;
    this.cAlloc.value++;
    if (this.pvEntryCount > this.highWater && !this.warned) {
      this.warned = true;
      this.kernel.trace.emit("pmap", "pv.highwater", {
        msg: "Approaching the limit on PV entries, consider increasing either the vm.pmap.shpgperproc or the vm.pmap.pv_entry_max tunable.",
      });
    }
  }

  /**
   * A new chunk for pm from a free page and a chunk VA; entry 0 is returned (pc_map[0] =
   * pc_freemask[0] & ~1). Null when either is unavailable (nothing is taken then).
   */
  newChunk(pm: PvOwner, pg: VmPage | null): PvEntry | null {
    if (!this.kvaAvailable) return null;
    const page = pg ?? this.host.allocPage({});
    if (page === null) return null;
    const va = this.pvChunkKvaAlloc(page.pa);
    if (va === 0) {
      this.host.freePage(page);
      return null;
    }
    if (!this.useDmap) this.mm.qenter(va, page.pa);
    const pc = new PvChunk(va, page, this.L);
    pc.pmap = pm;
    pc.map.set(this.freeMask);
    pc.map[0] = ((pc.map[0] as number) & ~1) >>> 0;
    pc.nfree = this.L.npcpv - 1;
    this.byVa.set(va, pc);
    this.mm.store(va, pm.id);
    for (let i = 0; i < pc.map.length; i++) this.storeMap(pc, i);
    this.pmInsertHead(pm, pc);
    this.lruInsertTail(pc);
    this.cChunkAllocs.value++;
    this.accountAlloc();
    return pc.ents[0] as PvEntry;
  }

  /** pmap's try-failure path: count it (pc_chunk_tryfail). */
  tryFailed(): void {
    this.cTryfail.value++;
  }

  /**
   * free_pv_entry(pmap, pv): set its bit; the chunk goes to the head of pm_pvchunk, or is freed
   * when every entry is free.
   */
  free(pm: PvOwner, pv: PvEntry): void {
    const pc = pv.chunk;
    if (pc.pmap !== pm) this.kernel.panic(`free_pv_entry: pv ${hex(pv.addr)} is not pmap ${pm.id}'s`);
    this.freeBit(pc, pv);
    this.pvEntryCount--;
    this.cFree.value++;
    this.pmRemove(pm, pc);
    if (pc.nfree === this.L.npcpv) {
      this.freeChunk(pc);
      return;
    }
    this.pmInsertHead(pm, pc);
  }

  /** Set a free bit only (pmap_pv_reclaim counts and requeues itself). */
  freeBit(pc: PvChunk, pv: PvEntry): void {
    const f = pv.idx >>> 5;
    const bit = pv.idx & 31;
    const w = pc.map[f] as number;
    if ((w & (1 << bit)) !== 0) this.kernel.panic(`free_pv_entry: pv ${hex(pv.addr)} already free`);
    pc.map[f] = (w | (1 << bit)) >>> 0;
    this.storeMap(pc, f);
    pc.nfree++;
    pv.next = null;
    pv.prev = null;
    pv.va = 0;
  }

  /** free_pv_chunk: off the LRU, pmap_qremove, the page back to the VM, the VA back to pv_vafree. */
  freeChunk(pc: PvChunk): void {
    const pg = this.releaseChunk(pc);
    this.host.freePage(pg);
  }

  /** Unmap a chunk and give its VA back; return its page (pmap_pv_reclaim keeps it as m_pc). */
  releaseChunk(pc: PvChunk): VmPage {
    this.lruRemove(pc);
    this.byVa.delete(pc.kva);
    if (!this.useDmap) {
      this.mm.qremove(pc.kva);
      this.pvChunkKvaFree(pc.kva);
    }
    pc.pmap = null;
    this.cChunkFrees.value++;
    return pc.pg;
  }

  /** Requeue a chunk after pmap_pv_reclaim freed some of its entries. */
  afterReclaim(pm: PvOwner, pc: PvChunk, freed: number): void {
    this.pvEntryCount -= freed;
    this.cFree.value += freed;
    this.cReclaimed.value += freed;
    this.pmRemove(pm, pc);
  }

  /** Put a chunk back at the head of its pmap's list and the LRU tail. */
  requeue(pm: PvOwner, pc: PvChunk): void {
    this.pmInsertHead(pm, pc);
    this.lruInsertTail(pc);
  }

  // ------------------------------------------------------------------ pv lists (md_page)

  /** TAILQ_INSERT_TAIL(&md->pv_list, pv, pv_list). */
  static insertTail(md: MdPage, pv: PvEntry, va: VAddr): void {
    pv.va = va;
    pv.next = null;
    pv.prev = md.pvTail;
    if (md.pvTail !== null) md.pvTail.next = pv;
    else md.pvHead = pv;
    md.pvTail = pv;
    md.pvCount++;
  }

  /** TAILQ_REMOVE. */
  static unlink(md: MdPage, pv: PvEntry): void {
    if (pv.prev !== null) pv.prev.next = pv.next;
    else md.pvHead = pv.next;
    if (pv.next !== null) pv.next.prev = pv.prev;
    else md.pvTail = pv.prev;
    pv.next = null;
    pv.prev = null;
    md.pvCount--;
  }

  /** pmap_pvh_remove: find (pmap, va) on a list and unlink it; null if absent. */
  pvhRemove(md: MdPage, pm: PvOwner, va: VAddr): PvEntry | null {
    for (let pv = md.pvHead; pv !== null; pv = pv.next) {
      if (pv.va === va && this.pvPmap(pv) === pm) {
        PvChunks.unlink(md, pv);
        return pv;
      }
    }
    return null;
  }
}
