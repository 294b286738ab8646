/**
 * A translation lookaside buffer with no coherence with memory: an entry stays in use after the
 * page-table entry it came from changes, until INVLPG, a CR3 write (non-global entries) or a full
 * flush removes it — exactly the property that makes forgotten invalidations and shootdowns
 * visible. 4 KiB translations live in a set-associative array; large pages (2 MiB / 4 MiB / 1 GiB)
 * in a small fully associative one, as on the P6 and later cores.
 *
 * Each entry caches the walk's combined rights and the leaf's dirty state (SDM 4.10.2.2). Entries
 * are kept in typed arrays (struct of arrays): no objects are allocated on a lookup.
 */
import type { TlbEntryView, TlbGeometry } from "./types.js";

/** Flag bits of a TLB entry. */
export const TLBF_W = 1; // writable (R/W AND over all levels)
export const TLBF_U = 2; // user (U/S AND over all levels)
export const TLBF_XD = 4; // no-execute (XD OR over all levels, with NXE)
export const TLBF_D = 8; // leaf dirty when cached
export const TLBF_G = 16; // global (leaf G with CR4.PGE)

export const DEFAULT_TLB: Readonly<TlbGeometry> = Object.freeze({ smallSets: 16, smallWays: 4, largeEntries: 16 });

export class Tlb {
  readonly smallSets: number;
  readonly smallWays: number;
  readonly largeEntries: number;
  private readonly setMask: number;

  // 4 KiB entries: tag = virtual page number, -1 when invalid.
  readonly sTag: Float64Array;
  /** Physical address of the frame. */
  readonly sPa: Float64Array;
  /** Backing-store word index of the frame (-1 if the frame is not RAM: accesses take the slow path). */
  readonly sWord: Int32Array;
  readonly sFlags: Uint8Array;
  private readonly sNext: Uint8Array;

  // Large entries: tag = linear base address of the page, -1 when invalid.
  readonly lTag: Float64Array;
  readonly lSize: Float64Array;
  readonly lPa: Float64Array;
  readonly lWord: Int32Array;
  readonly lFlags: Uint8Array;
  private lNext = 0;

  /** Bumped on every change that can invalidate a cached lookup (fills, evictions, flushes). */
  generation = 0;

  constructor(geom: TlbGeometry) {
    const { smallSets, smallWays, largeEntries } = geom;
    if (!(smallSets >= 1) || (smallSets & (smallSets - 1)) !== 0)
      throw new RangeError("TLB sets must be a power of two");
    if (!(smallWays >= 1 && smallWays <= 64)) throw new RangeError("TLB ways must be 1..64");
    if (!(largeEntries >= 1 && largeEntries <= 256)) throw new RangeError("large TLB entries must be 1..256");
    this.smallSets = smallSets;
    this.smallWays = smallWays;
    this.largeEntries = largeEntries;
    this.setMask = smallSets - 1;
    const n = smallSets * smallWays;
    this.sTag = new Float64Array(n).fill(-1);
    this.sPa = new Float64Array(n);
    this.sWord = new Int32Array(n);
    this.sFlags = new Uint8Array(n);
    this.sNext = new Uint8Array(smallSets);
    this.lTag = new Float64Array(largeEntries).fill(-1);
    this.lSize = new Float64Array(largeEntries);
    this.lPa = new Float64Array(largeEntries);
    this.lWord = new Int32Array(largeEntries);
    this.lFlags = new Uint8Array(largeEntries);
  }

  /** Slot of the 4 KiB entry for a virtual page number, or -1. */
  findSmall(vpn: number): number {
    const ways = this.smallWays;
    const base = (vpn & this.setMask) * ways;
    const tag = this.sTag;
    for (let i = base, end = base + ways; i < end; i++) if (tag[i] === vpn) return i;
    return -1;
  }

  /** Slot of the large entry covering a linear address, or -1. */
  findLarge(va: number): number {
    const tag = this.lTag;
    const size = this.lSize;
    for (let i = 0; i < this.largeEntries; i++) {
      const t = tag[i] as number;
      if (t >= 0 && va >= t && va - t < (size[i] as number)) return i;
    }
    return -1;
  }

  fillSmall(vpn: number, pa: number, word: number, flags: number): number {
    let slot = this.findSmall(vpn);
    if (slot < 0) {
      const set = vpn & this.setMask;
      const way = this.sNext[set] as number;
      this.sNext[set] = (way + 1) % this.smallWays;
      slot = set * this.smallWays + way;
    }
    this.sTag[slot] = vpn;
    this.sPa[slot] = pa;
    this.sWord[slot] = word;
    this.sFlags[slot] = flags;
    this.generation++;
    return slot;
  }

  fillLarge(base: number, size: number, pa: number, word: number, flags: number): number {
    let slot = this.findLarge(base);
    if (slot < 0 || this.lSize[slot] !== size) {
      slot = this.lNext;
      this.lNext = (slot + 1) % this.largeEntries;
    }
    this.lTag[slot] = base;
    this.lSize[slot] = size;
    this.lPa[slot] = pa;
    this.lWord[slot] = word;
    this.lFlags[slot] = flags;
    this.generation++;
    return slot;
  }

  /** INVLPG semantics: every entry (global ones too) that translates this address. */
  invalidateAddress(va: number, vpn: number): number {
    let n = 0;
    const ways = this.smallWays;
    const base = (vpn & this.setMask) * ways;
    for (let i = base; i < base + ways; i++) {
      if (this.sTag[i] === vpn) {
        this.sTag[i] = -1;
        n++;
      }
    }
    for (let i = 0; i < this.largeEntries; i++) {
      const t = this.lTag[i] as number;
      if (t >= 0 && va >= t && va - t < (this.lSize[i] as number)) {
        this.lTag[i] = -1;
        n++;
      }
    }
    this.generation++;
    return n;
  }

  /** Drop every entry; with keepGlobal, global entries survive (a CR3 write with CR4.PGE). */
  flush(keepGlobal: boolean): void {
    const sf = this.sFlags;
    for (let i = 0; i < this.sTag.length; i++) {
      if (!keepGlobal || ((sf[i] as number) & TLBF_G) === 0) this.sTag[i] = -1;
    }
    const lf = this.lFlags;
    for (let i = 0; i < this.largeEntries; i++) {
      if (!keepGlobal || ((lf[i] as number) & TLBF_G) === 0) this.lTag[i] = -1;
    }
    this.generation++;
  }

  entries(): TlbEntryView[] {
    const out: TlbEntryView[] = [];
    const view = (va: number, pa: number, size: number, f: number): TlbEntryView => ({
      va,
      pa,
      size,
      writable: (f & TLBF_W) !== 0,
      user: (f & TLBF_U) !== 0,
      noExec: (f & TLBF_XD) !== 0,
      dirty: (f & TLBF_D) !== 0,
      global: (f & TLBF_G) !== 0,
    });
    for (let i = 0; i < this.sTag.length; i++) {
      const t = this.sTag[i] as number;
      if (t >= 0) out.push(view(t * 4096, this.sPa[i] as number, 4096, this.sFlags[i] as number));
    }
    for (let i = 0; i < this.largeEntries; i++) {
      const t = this.lTag[i] as number;
      if (t >= 0) out.push(view(t, this.lPa[i] as number, this.lSize[i] as number, this.lFlags[i] as number));
    }
    return out.sort((a, b) => a.va - b.va);
  }
}
