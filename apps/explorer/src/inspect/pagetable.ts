/**
 * Page tables read from simulated physical memory, the way the hardware walks them from CR3
 * (Intel SDM Vol. 3A ch. 4), driven by the machine's PagingFormat descriptor so one reader serves
 * 32-bit, PAE and 4-level paging. Nothing here goes through the MMU or the TLB: reading is direct
 * physical access (an inspector's privilege, like an audit's) and sets no Accessed/Dirty bits.
 */

import {
  LARGE_ALWAYS,
  LARGE_IF_PSE,
  type Machine,
  type PagingFormat,
  PG_NX_HI,
  PG_PS,
  PG_RW,
  PG_U,
  PG_V,
  pteFrame,
} from "@vmlab/machine";
import type { AddressLayout } from "vmlab";

export type EntryKind = "table" | "page" | "large";
/** The kernel's windows onto its own page tables, and the amd64 direct map. */
export type Window = "recursive" | "alternate" | "dmap";

export interface PtEntry {
  readonly index: number;
  /** Physical address of the entry itself. */
  readonly entryPa: number;
  /** The entry as two unsigned 32-bit halves (hi = 0 for 4-byte entries). */
  readonly lo: number;
  readonly hi: number;
  /** First linear address the entry covers, and how many bytes. */
  readonly va: number;
  readonly span: number;
  /** The frame the entry names (a table or a page). */
  readonly frame: number;
  readonly kind: EntryKind;
  /** Set when the entry lies in a window: its children are not walked (they are page tables again). */
  readonly window: Window | undefined;
}

export interface PtTable {
  /** Level name of the entries: "PML4E", "PDPTE", "PDE", "PTE". */
  readonly name: string;
  /** 0 = top. */
  readonly depth: number;
  readonly pa: number;
  /** Present entries only. */
  readonly entries: readonly PtEntry[];
  /** Entries the table has (present or not). */
  readonly size: number;
}

/** A large page's base: bit 12 of a PS entry is PAT, not an address bit. */
function largeFrame(lo: number, hi: number, span: number): number {
  const f = pteFrame(lo, hi);
  return f - (f % span);
}

interface Level {
  readonly name: string;
  readonly shift: number;
  readonly entries: number;
  readonly large: number;
}

/** The levels walked from CR3: PAE's PDPT first (in memory at CR3; the CPU caches it in registers). */
function levels(f: PagingFormat): Level[] {
  const out: Level[] = [];
  if (f.pdpteRegisters) out.push({ name: "PDPTE", shift: 30, entries: 4, large: 0 });
  for (const l of f.levels) out.push({ name: l.name, shift: l.shift, entries: 2 ** l.indexBits, large: l.large });
  return out;
}

/** The page-table reader of one machine. */
export class PageTableReader {
  readonly levels: readonly Level[];
  private readonly entryBytes: number;
  private readonly windows: { lo: number; hi: number; w: Window }[] = [];

  constructor(
    readonly machine: Machine,
    layout: AddressLayout,
  ) {
    const f = machine.format;
    this.levels = levels(f);
    this.entryBytes = f.entryBytes;
    // A recursive window maps every PTE of the address space: 2^(vaBits-12) entries.
    const w = 2 ** (f.vaBits - 12) * f.entryBytes;
    if (layout.ptmap !== undefined) this.windows.push({ lo: layout.ptmap, hi: layout.ptmap + w, w: "recursive" });
    if (layout.aptmap !== undefined) this.windows.push({ lo: layout.aptmap, hi: layout.aptmap + w, w: "alternate" });
    if (layout.dmapMin !== undefined && layout.dmapMax !== undefined)
      this.windows.push({ lo: layout.dmapMin, hi: layout.dmapMax, w: "dmap" });
  }

  /** Whether PS is honoured at a level (32-bit PDEs only with CR4.PSE, read from CPU 0). */
  private largeAt(l: Level): boolean {
    return l.large === LARGE_ALWAYS || (l.large === LARGE_IF_PSE && (this.machine.cpus[0]?.pse ?? false));
  }

  /** The window a linear address lies in, if any. */
  windowAt(va: number): Window | undefined {
    return this.windowOf(va, 1);
  }

  private windowOf(va: number, span: number): Window | undefined {
    for (const w of this.windows) if (va >= w.lo && va + span <= w.hi) return w.w;
    return undefined;
  }

  /** The top-level table's physical address for a CR3 value. */
  root(cr3: number): number {
    // PAE's CR3 names a 32-byte-aligned PDPT; the other formats a page-aligned table.
    const align = this.machine.format.pdpteRegisters ? 32 : 4096;
    return cr3 - (cr3 % align);
  }

  /** Read one table: its present entries, each with the linear range it covers. */
  table(pa: number, depth: number, vaBase: number): PtTable {
    const l = this.levels[depth] as Level;
    const mem = this.machine.memory;
    const leaf = depth === this.levels.length - 1;
    const span = 2 ** l.shift;
    const entries: PtEntry[] = [];
    for (let i = 0; i < l.entries; i++) {
      const ea = pa + i * this.entryBytes;
      const lo = mem.read32(ea) >>> 0;
      if ((lo & PG_V) === 0) continue;
      const hi = this.entryBytes === 8 ? mem.read32(ea + 4) >>> 0 : 0;
      const va = vaBase + i * span;
      const kind: EntryKind = leaf ? "page" : depth > 0 && (lo & PG_PS) !== 0 && this.largeAt(l) ? "large" : "table";
      entries.push({
        index: i,
        entryPa: ea,
        lo,
        hi,
        va,
        span,
        frame: kind === "large" ? largeFrame(lo, hi, span) : pteFrame(lo, hi),
        kind,
        window: kind === "table" ? this.windowOf(va, span) : undefined,
      });
    }
    return { name: l.name, depth, pa, entries, size: l.entries };
  }

  /**
   * Visit every table reachable from `cr3` (not descending into windows) and every leaf mapping,
   * with the rights combined over the levels as the MMU combines them.
   */
  walk(
    cr3: number,
    visit: {
      table?(t: PtTable): void;
      leaf?(va: number, frame: number, size: number, user: boolean, writable: boolean, e: PtEntry): void;
    },
  ): void {
    const seen = new Set<number>();
    const rec = (pa: number, depth: number, vaBase: number, user: boolean, writable: boolean) => {
      const t = this.table(pa, depth, vaBase);
      visit.table?.(t);
      seen.add(pa);
      for (const e of t.entries) {
        // PAE PDPTEs carry no R/W or U/S bits: they do not restrict.
        const pdpte = this.levels[depth]?.name === "PDPTE" && this.machine.format.pdpteRegisters;
        const u = user && (pdpte || (e.lo & PG_U) !== 0);
        const w = writable && (pdpte || (e.lo & PG_RW) !== 0);
        if (e.kind === "table") {
          if (e.window !== undefined || seen.has(e.frame)) continue;
          rec(e.frame, depth + 1, e.va, u, w);
        } else {
          visit.leaf?.(e.va, e.frame, e.span, u, w, e);
        }
      }
    };
    rec(this.root(cr3), 0, 0, true, true);
  }

  /**
   * Translate `va` by reading the tables (no TLB, no A/D updates): the frame address and the
   * combined rights, or undefined when a level is not present.
   */
  lookup(
    cr3: number,
    va: number,
  ): { pa: number; size: number; user: boolean; writable: boolean; noExec: boolean } | undefined {
    const mem = this.machine.memory;
    let pa = this.root(cr3);
    let user = true;
    let writable = true;
    let noExec = false;
    for (let d = 0; d < this.levels.length; d++) {
      const l = this.levels[d] as Level;
      const idx = Math.floor(va / 2 ** l.shift) % l.entries;
      const ea = pa + idx * this.entryBytes;
      const lo = mem.read32(ea) >>> 0;
      if ((lo & PG_V) === 0) return undefined;
      const hi = this.entryBytes === 8 ? mem.read32(ea + 4) >>> 0 : 0;
      if (!(l.name === "PDPTE" && this.machine.format.pdpteRegisters)) {
        user &&= (lo & PG_U) !== 0;
        writable &&= (lo & PG_RW) !== 0;
        noExec ||= (hi & PG_NX_HI) !== 0;
      }
      const large = d > 0 && (lo & PG_PS) !== 0 && this.largeAt(l);
      const frame = large ? largeFrame(lo, hi, 2 ** l.shift) : pteFrame(lo, hi);
      const leaf = d === this.levels.length - 1;
      if (leaf || large) {
        const size = 2 ** l.shift;
        return { pa: frame + (va % size), size, user, writable, noExec };
      }
      pa = frame;
    }
    return undefined;
  }
}
