/**
 * Enumerating a page-table tree: every present leaf mapping (4 KiB pages and large pages) under a
 * CR3 value, in address order, for all three paging formats. It reads physical memory only — no
 * Accessed/Dirty write-back, no TLB, no statistics — so audits, debuggers and the explorer can use
 * it on a live machine. The walk follows the format descriptor (LevelSpec) exactly as walk.ts does
 * for one address (Intel SDM Vol. 3A 4.3–4.5): PAE's 4 PDPTEs at CR3's 32-byte-aligned address,
 * PS honoured per level (CR4.PSE for 32-bit PDEs), rights combined across levels (R/W and U/S by
 * AND, XD by OR), and entries with reserved bits set skipped (the hardware would fault on them).
 */
import { LARGE_ALWAYS, LARGE_IF_PSE, type PagingFormat, PG_AVL, PG_G, PG_PS, PG_RW, PG_U, PG_V } from "./format.js";
import type { PhysicalMemory } from "./memory.js";

const TWO32 = 0x1_0000_0000;

/** One present leaf translation: [va, va + size) → [pa, pa + size). */
export interface LeafMapping {
  /** Linear base (48-bit unsigned for 4-level paging: the upper half as its 48-bit value). */
  readonly va: number;
  /** Physical base of the frame. */
  readonly pa: number;
  /** 4096, or the large-page size of the level that maps it (4 MiB, 2 MiB, 1 GiB). */
  readonly size: number;
  /** R/W set at every level. */
  readonly writable: boolean;
  /** U/S set at every level. */
  readonly user: boolean;
  /** XD set at some level (formats with NX only). */
  readonly noExec: boolean;
  /** G set in the leaf. */
  readonly global: boolean;
  /**
   * The leaf's AVL bits 9–11, in place (entry & 0xe00): ignored by the MMU, the pmap's own — PG_W
   * (wired) and PG_PVLIST/PG_MANAGED live there.
   */
  readonly avl: number;
}

/** The control bits that decide how a tree is read. */
export interface LeafWalkOptions {
  /** CR4.PSE: 32-bit paging PDEs with PS map 4 MiB pages (default true). */
  readonly pse?: boolean;
  /** EFER.NXE: bit 63 is XD; without it bit 63 is reserved and such entries are skipped (default true). */
  readonly nxe?: boolean;
  /** Only leaves overlapping [start, end) are reported; subtrees outside are not read. */
  readonly start?: number;
  readonly end?: number;
}

/** Rights accumulated down one path of the tree. */
interface PathRights {
  w: boolean;
  u: boolean;
  xd: boolean;
}

/**
 * Every present leaf mapping reachable from `cr3` in `format`, in increasing VA order. Reads
 * `mem` only; a table outside RAM throws MachineCheck as a walk would.
 */
export function* leafMappings(
  mem: PhysicalMemory,
  format: PagingFormat,
  cr3: number,
  opts: LeafWalkOptions = {},
): Generator<LeafMapping> {
  const ctx = new TreeReader(mem, format, opts);
  if (!format.pdpteRegisters) {
    const root = format.entryBytes === 8 ? cr3 - (cr3 % 4096) : (cr3 & 0xffff_f000) >>> 0;
    yield* ctx.table(root, 0, 0, { w: true, u: true, xd: false });
    return;
  }
  // PAE: the PDPT at CR3's 32-byte-aligned address; PDPTEs carry no R/W, U/S or XD.
  const pdpt = (cr3 & format.cr3Mask) >>> 0;
  for (let i = 0; i < 4; i++) {
    const base = i * 2 ** 30;
    if (!ctx.overlaps(base, 2 ** 30)) continue;
    const lo = mem.read32(pdpt + i * 8);
    const hi = mem.read32(pdpt + i * 8 + 4);
    if ((lo & PG_V) === 0) continue;
    if ((lo & format.rsvPdpte[0]) !== 0 || (hi & format.rsvPdpte[1]) !== 0) continue;
    yield* ctx.table(ctx.addr(lo, hi), 0, base, { w: true, u: true, xd: false });
  }
}

/** The per-walk state: the format's level geometry and the options. */
class TreeReader {
  private readonly wide: boolean;
  private readonly addrHiMask: number;
  private readonly pse: boolean;
  private readonly nxe: boolean;
  private readonly start: number;
  private readonly end: number;

  constructor(
    private readonly mem: PhysicalMemory,
    private readonly format: PagingFormat,
    opts: LeafWalkOptions,
  ) {
    this.wide = format.entryBytes === 8;
    this.addrHiMask = format.maxPhysBits > 32 ? 2 ** (format.maxPhysBits - 32) - 1 : 0;
    this.pse = opts.pse ?? true;
    this.nxe = opts.nxe ?? true;
    this.start = opts.start ?? 0;
    this.end = opts.end ?? 2 ** format.vaBits;
  }

  /** Whether [base, base + size) meets the requested range. */
  overlaps(base: number, size: number): boolean {
    return base < this.end && base + size > this.start;
  }

  /** The 4 KiB-aligned physical address an entry names. */
  addr(lo: number, hi: number): number {
    return (hi & this.addrHiMask) * TWO32 + ((lo & 0xffff_f000) >>> 0);
  }

  /** The leaves of the table at `pa`, which sits at level `li` and covers VAs from `base`. */
  *table(pa: number, li: number, base: number, path: PathRights): Generator<LeafMapping> {
    const f = this.format;
    const lv = f.levels[li];
    if (lv === undefined) return;
    const last = li === f.levels.length - 1;
    const span = 2 ** lv.shift;
    const n = 2 ** lv.indexBits;
    const nxRsv = f.hasNx && !this.nxe ? 0x8000_0000 : 0;
    for (let i = 0; i < n; i++) {
      const va = base + i * span;
      if (!this.overlaps(va, span)) continue;
      const ea = pa + i * f.entryBytes;
      const lo = this.mem.read32(ea);
      if ((lo & PG_V) === 0) continue;
      const hi = this.wide ? this.mem.read32(ea + 4) : 0;
      const leaf =
        last || ((lo & PG_PS) !== 0 && (lv.large === LARGE_ALWAYS || (lv.large === LARGE_IF_PSE && this.pse)));
      const rsv = leaf ? lv.rsvLeaf : lv.rsvTable;
      if ((lo & rsv[0]) !== 0 || (hi & (rsv[1] | nxRsv)) !== 0) continue;
      const rights: PathRights = {
        w: path.w && (lo & PG_RW) !== 0,
        u: path.u && (lo & PG_U) !== 0,
        xd: path.xd || (f.hasNx && hi >>> 31 === 1),
      };
      if (!leaf) {
        yield* this.table(this.addr(lo, hi), li + 1, va, rights);
        continue;
      }
      const size = last ? 4096 : span;
      const frame = this.addr(lo, hi);
      yield {
        va,
        pa: frame - (frame % size),
        size,
        writable: rights.w,
        user: rights.u,
        noExec: rights.xd,
        global: (lo & PG_G) !== 0,
        avl: lo & PG_AVL,
      };
    }
  }
}
