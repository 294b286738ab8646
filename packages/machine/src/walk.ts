/**
 * The page-walk engine: one interpreter for the three x86 paging formats (Intel SDM Vol. 3A
 * 4.3–4.5), driven by a PagingFormat descriptor. It reads real entries from physical memory,
 * stops at the first not-present or reserved-bit entry, combines R/W and U/S (AND) and XD (OR)
 * across levels, applies the access-rights rules of SDM 4.6 at the leaf, sets Accessed on every
 * entry used and Dirty on the leaf for a write, and leaves the leaf untouched on a fault.
 *
 * Runs only on TLB misses; results go to fields (no allocation).
 */
import { LARGE_ALWAYS, LARGE_IF_PSE, type PagingFormat, PG_A, PG_G, PG_M, PG_PS, PG_V } from "./format.js";
import { MachineCheck, type PhysicalMemory } from "./memory.js";
import { TLBF_D, TLBF_G, TLBF_U, TLBF_W, TLBF_XD } from "./tlb.js";
import { ACC_EXEC, ACC_WRITE, PFERR_ID, PFERR_P, PFERR_RSVD, PFERR_U, PFERR_W } from "./types.js";

const TWO32 = 0x1_0000_0000;

/** The control state a walk depends on (the CPU's CR0/CR3/CR4/EFER and PDPTE registers). */
export interface WalkControl {
  cr3: number;
  wp: boolean;
  pse: boolean;
  pge: boolean;
  nxe: boolean;
  smep: boolean;
  readonly pdpteLo: Uint32Array;
  readonly pdpteHi: Uint32Array;
}

/**
 * SDM 4.6 access rights, given the combined rights of the walk. One table lookup on TLB hits:
 * index = rights (TLBF_W | TLBF_U | TLBF_XD) | access << 3 | user << 5.
 */
export function buildRightsTable(wp: boolean, smep: boolean): Uint8Array {
  const t = new Uint8Array(64);
  for (let rights = 0; rights < 8; rights++) {
    const w = (rights & TLBF_W) !== 0;
    const u = (rights & TLBF_U) !== 0;
    const xd = (rights & TLBF_XD) !== 0;
    for (let acc = 0; acc < 3; acc++) {
      for (let user = 0; user < 2; user++) {
        let ok: boolean;
        if (acc === ACC_EXEC) ok = !xd && (user ? u : !(smep && u));
        else if (user) ok = u && (acc !== ACC_WRITE || w);
        else ok = acc !== ACC_WRITE || w || !wp;
        t[rights | (acc << 3) | (user << 5)] = ok ? 1 : 0;
      }
    }
  }
  return t;
}

export class PageWalker {
  // Results of the last successful walk.
  /** Physical address of the accessed byte. */
  pa = 0;
  /** Linear base and size of the page mapped. */
  base = 0;
  size = 0;
  /** Physical base of the page frame. */
  frame = 0;
  /** TLB flags (rights, dirty, global) of the translation. */
  flags = 0;
  /** Error code of the last fault (valid when walk() returned false). */
  errorCode = 0;

  // Statistics.
  levelsRead = 0;
  adUpdates = 0;

  private readonly shiftDiv: Float64Array;
  private readonly idxMask: Int32Array;
  private readonly largeMode: Uint8Array;
  private readonly rsvTblLo: Int32Array;
  private readonly rsvTblHi: Int32Array;
  private readonly rsvLeafLo: Int32Array;
  private readonly rsvLeafHi: Int32Array;
  private readonly nlev: number;
  private readonly wide: boolean;
  private readonly addrHiMask: number;
  rights: Uint8Array;

  constructor(
    readonly format: PagingFormat,
    private readonly mem: PhysicalMemory,
    private readonly ctl: WalkControl,
    /** False for an audit's walker: no Accessed/Dirty write-back, no statistics. */
    private readonly sideEffects = true,
  ) {
    const lv = format.levels;
    this.nlev = lv.length;
    this.shiftDiv = Float64Array.from(lv, (l) => 2 ** l.shift);
    this.idxMask = Int32Array.from(lv, (l) => (1 << l.indexBits) - 1);
    this.largeMode = Uint8Array.from(lv, (l) => l.large);
    this.rsvTblLo = Int32Array.from(lv, (l) => l.rsvTable[0]);
    this.rsvTblHi = Int32Array.from(lv, (l) => l.rsvTable[1]);
    this.rsvLeafLo = Int32Array.from(lv, (l) => l.rsvLeaf[0]);
    this.rsvLeafHi = Int32Array.from(lv, (l) => l.rsvLeaf[1]);
    this.wide = format.entryBytes === 8;
    this.addrHiMask = format.maxPhysBits > 32 ? 2 ** (format.maxPhysBits - 32) - 1 : 0;
    this.rights = buildRightsTable(false, false);
  }

  /** Error-code bits contributed by the access itself (SDM 4.7). */
  private accessBits(acc: number, user: boolean): number {
    let e = 0;
    if (acc === ACC_WRITE) e |= PFERR_W;
    if (user) e |= PFERR_U;
    if (acc === ACC_EXEC && (this.ctl.smep || (this.format.hasNx && this.ctl.nxe))) e |= PFERR_ID;
    return e;
  }

  /** The fault a TLB hit with insufficient rights raises (a protection fault: P = 1). */
  protectionError(acc: number, user: boolean): number {
    return PFERR_P | this.accessBits(acc, user);
  }

  /**
   * Walk the tables for `va`. On success sets pa/base/size/frame/flags, writes A (and D) back, and
   * returns true; on a fault sets errorCode and returns false.
   */
  walk(va: number, acc: number, user: boolean): boolean {
    const ctl = this.ctl;
    const mem = this.mem;
    const words = mem.words;
    const wide = this.wide;
    const nxeRsv = this.format.hasNx && !ctl.nxe ? 0x8000_0000 | 0 : 0;
    let w = 1;
    let u = 1;
    let xd = 0;
    let table: number;

    if (this.format.pdpteRegisters) {
      const i = (va >>> 30) & 3;
      const lo = this.ctl.pdpteLo[i] as number;
      if ((lo & PG_V) === 0) return this.fail(0, acc, user);
      table = ((this.ctl.pdpteHi[i] as number) & this.addrHiMask) * TWO32 + ((lo & 0xffff_f000) >>> 0);
    } else {
      table = ctl.cr3 - (ctl.cr3 % 4096);
      if (!wide) table = (table & 0xffff_f000) >>> 0;
    }

    for (let li = 0; li < this.nlev; li++) {
      const idx = Math.floor(va / (this.shiftDiv[li] as number)) & (this.idxMask[li] as number);
      const ea = table + idx * (wide ? 8 : 4);
      const off = mem.offsetOf(ea);
      if (off < 0) throw new MachineCheck(ea);
      const wi = off >>> 2;
      const lo = words[wi] as number;
      const hi = wide ? (words[wi + 1] as number) : 0;
      if (this.sideEffects) this.levelsRead++;
      if ((lo & PG_V) === 0) return this.fail(0, acc, user);
      const mode = this.largeMode[li] as number;
      const last = li === this.nlev - 1;
      const leaf = last || ((lo & PG_PS) !== 0 && (mode === LARGE_ALWAYS || (mode === LARGE_IF_PSE && ctl.pse)));
      const rLo = leaf ? (this.rsvLeafLo[li] as number) : (this.rsvTblLo[li] as number);
      const rHi = (leaf ? (this.rsvLeafHi[li] as number) : (this.rsvTblHi[li] as number)) | nxeRsv;
      if ((lo & rLo) !== 0 || (hi & rHi) !== 0) return this.fail(PFERR_P | PFERR_RSVD, acc, user);
      w &= (lo >>> 1) & 1;
      u &= (lo >>> 2) & 1;
      if (hi >>> 31 === 1 && ctl.nxe) xd = 1;
      const frameLo = (lo & 0xffff_f000) >>> 0;
      if (!leaf) {
        if ((lo & PG_A) === 0 && this.sideEffects) {
          words[wi] = lo | PG_A;
          this.adUpdates++;
        }
        table = (hi & this.addrHiMask) * TWO32 + frameLo;
        continue;
      }
      const size = last ? 4096 : (this.shiftDiv[li] as number);
      const rights = (w ? TLBF_W : 0) | (u ? TLBF_U : 0) | (xd ? TLBF_XD : 0);
      if ((this.rights[rights | (acc << 3) | ((user ? 1 : 0) << 5)] as number) === 0) {
        return this.fail(PFERR_P, acc, user);
      }
      const newLo = this.sideEffects ? lo | PG_A | (acc === ACC_WRITE ? PG_M : 0) : lo;
      if (newLo !== (lo | 0)) {
        words[wi] = newLo;
        this.adUpdates++;
      }
      const frame = (hi & this.addrHiMask) * TWO32 + (last ? frameLo : frameLo - (frameLo % size));
      const base = va - (va % size);
      this.frame = frame;
      this.base = base;
      this.size = size;
      this.pa = frame + (va - base);
      this.flags = rights | ((newLo & PG_M) !== 0 ? TLBF_D : 0) | ((lo & PG_G) !== 0 && ctl.pge ? TLBF_G : 0);
      return true;
    }
    /* c8 ignore next */
    throw new Error("unreachable: walk without a leaf level");
  }

  private fail(bits: number, acc: number, user: boolean): false {
    this.errorCode = bits | this.accessBits(acc, user);
    return false;
  }
}
