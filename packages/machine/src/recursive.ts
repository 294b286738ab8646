/**
 * Geometry of a recursive page-table window (the i386 BSDs' PTmap/APTmap, generalised).
 *
 * A top-level slot W that points at a top-level table makes the whole tree visible as data: the
 * walk for an address inside the window goes one level "short", so the PTEs of every address
 * appear as one linear array at W's region, the PDEs as a smaller array inside it, and so on.
 * With W = the pmap's own self slot R this is PTmap ("vtopte"); with W = an alternate slot loaded
 * with another pmap's top-level table, it is APTmap ("avtopte") — for the upper levels the walk
 * then goes through the *other* pmap's self slot R, so every pmap must keep R pointing at itself.
 *
 * Formats:
 *  - 32-bit paging: the page directory is the top (shift 22, 10-bit indices, 4-byte entries).
 *  - PAE: the four page directories act as one 2048-entry directory (shift 21); the window takes
 *    four consecutive slots W..W+3 pointing at PD 0..3 in order, and so does the self slot.
 *  - 4-level: the PML4 is the top (shift 39, 9-bit indices, 8-byte entries).
 *
 * entryVa(va, level): level 0 is the PTE mapping va, 1 the PDE, 2 the PDPTE, 3 the PML4E.
 */
import type { PagingFormat } from "./format.js";

export class RecursiveWindow {
  /** Lowest address of the window. */
  readonly base: number;
  /** Size of the window in bytes. */
  readonly size: number;
  /** Number of top-level slots the window occupies (4 for PAE, else 1). */
  readonly slots: number;
  private readonly bases: number[];
  private readonly divs: number[];
  private readonly e: number;

  /**
   * @param format the paging format
   * @param window the top-level slot of the window (PD index; combined PD index 0..2047 for PAE; PML4 index)
   * @param self the self-referencing slot of the pmap whose tables are reached (for PTmap, = window)
   */
  constructor(
    readonly format: PagingFormat,
    readonly window: number,
    readonly self: number,
  ) {
    const pae = format.pdpteRegisters;
    const levels = format.levels.length;
    const top = format.levels[0];
    if (!top) throw new Error("format without levels");
    const topShift = top.shift;
    const b = top.indexBits;
    const topEntries = pae ? 2048 : 2 ** b;
    this.slots = pae ? 4 : 1;
    for (const s of [window, self]) {
      if (!Number.isInteger(s) || s < 0 || s + this.slots > topEntries) throw new RangeError(`bad recursive slot ${s}`);
    }
    this.e = format.entryBytes;
    this.base = window * 2 ** topShift;
    this.size = this.slots * 2 ** topShift;
    this.bases = [];
    this.divs = [];
    let base = this.base;
    for (let l = 0; l < levels; l++) {
      if (l > 0) base += self * 2 ** (topShift - b * l);
      this.bases.push(base);
      this.divs.push(2 ** (12 + b * l));
    }
  }

  /** Whether va lies inside the window. */
  contains(va: number): boolean {
    return va >= this.base && va < this.base + this.size;
  }

  /** Virtual address of the level-`level` entry that maps `va`, as seen through this window. */
  entryVa(va: number, level: number): number {
    const base = this.bases[level];
    if (base === undefined) throw new RangeError(`no paging level ${level} in ${this.format.name}`);
    return base + Math.floor(va / (this.divs[level] as number)) * this.e;
  }

  /** vtopte(va) */
  pteVa(va: number): number {
    return (this.bases[0] as number) + Math.floor(va / 4096) * this.e;
  }

  /** Virtual address of the page-table page (at `level`, 0 = the PT) that holds va's level entry. */
  tablePageVa(va: number, level: number): number {
    const ea = this.entryVa(va, level);
    return ea - (ea % 4096);
  }
}
