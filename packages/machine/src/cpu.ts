/**
 * A CPU: control registers, privilege, its own TLB and MMU, an interrupt priority level with
 * pending interrupts, and a cycle counter.
 *
 * Memory accesses come in two shapes:
 *  - `translate(va, { access, user })`: the inspection API, returning an object;
 *  - `xlate` / `load32` / `store32` ...: the hot path used by the kernel and the pmaps, which
 *    returns numbers (-1 = fault, details in `faultErrorCode` / `cr2`) and allocates nothing.
 *
 * Hot-path shape: before the set-associative TLB is searched, a one-entry "last page" cache per
 * (access, privilege) is checked — the L1 micro-TLB of real cores. It is emptied whenever the TLB
 * or any control bit changes, so it can never disagree with the TLB it caches.
 */
import type { SplCpu } from "@vmlab/core";
import type { CostModel } from "./cost.js";
import type { PagingFormat } from "./format.js";
import type { PhysicalMemory } from "./memory.js";
import { TLBF_D, Tlb } from "./tlb.js";
import {
  ACC_EXEC,
  ACC_READ,
  ACC_WRITE,
  accOf,
  type ControlSettings,
  type TlbEntryView,
  type TlbGeometry,
  type TranslateOptions,
  type TranslateResult,
  VEC_GP,
  VEC_PF,
} from "./types.js";
import { buildRightsTable, PageWalker, type WalkControl } from "./walk.js";

const TWO32 = 0x1_0000_0000;

/** A processor exception raised outside a translation (e.g. #GP on a bad PAE PDPTE at CR3 load). */
export class CpuException extends Error {
  override readonly name = "CpuException";
  constructor(
    readonly vector: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** An interrupt source: a level (spl) and the handler that runs at that level. */
export interface Interrupt {
  readonly name: string;
  readonly level: number;
  readonly handler: (cpu: Cpu) => void;
}

/** What a CPU needs from the machine it belongs to. */
export interface CpuHost {
  /** Run due device events for this CPU's clock; returns the time of the next event (Infinity if none). */
  runDueEvents(cpu: Cpu): number;
  nextEventTime(): number;
  /** Called around interrupt handlers, so the machine can attribute work to this CPU. */
  enterCpu(cpu: Cpu): Cpu;
  leaveCpu(prev: Cpu): void;
}

export class Cpu implements SplCpu, WalkControl {
  // Control state (see setControl).
  cr3 = 0;
  wp = false;
  pse = false;
  pge = false;
  nxe = false;
  smep = false;
  readonly pdpteLo = new Uint32Array(4);
  readonly pdpteHi = new Uint32Array(4);

  /** CR2 and the error code of the last fault. */
  cr2 = 0;
  faultErrorCode = 0;
  faultVector = 0;

  /** Interrupt priority level (spl) and interrupt nesting depth. */
  ipl = 0;
  depth = 0;
  private readonly pending: Interrupt[] = [];

  /**
   * Simulated cycles consumed by this CPU = `cyclesBase + tlbHits * costMem`. TLB hits are by far
   * the most frequent event, so the hot path only counts them; the product is formed on demand.
   */
  private cyclesBase = 0;
  /** The CPU stops for service() when cycles reach this (next device event; 0 = deliverable interrupt). */
  private attentionAt = Number.POSITIVE_INFINITY;
  /** `attentionAt` expressed as a tlbHits count, so the hot path compares one field. */
  private hitLimit = Number.POSITIVE_INFINITY;

  // Statistics (summed by Machine.stats()).
  tlbHits = 0;
  tlbMisses = 0;
  invlpgs = 0;
  flushes = 0;
  pageFaults = 0;
  interrupts = 0;

  readonly tlb: Tlb;
  readonly walker: PageWalker;
  /** costs.memAccess, kept in a field: the hot path reads it on every access. */
  private readonly costMem: number;
  private readonly words: Uint32Array;
  private readonly wide: boolean;
  private readonly vaLimit: number;

  // Micro-TLB: last page translated per (access, privilege); tag -1 = empty.
  private r0t = -1;
  private r0w = 0;
  private r1t = -1;
  private r1w = 0;
  private w0t = -1;
  private w0w = 0;
  private w1t = -1;
  private w1w = 0;
  /** Backing word index of the page of the last successful xlate (-1 if not RAM). */
  private lastWord = -1;
  /**
   * Second level of the micro-TLB: a direct-mapped cache of 64 pages per (access, privilege),
   * index = kind * 64 + (vpn & 63) with kind = 0 sup-read, 1 user-read, 2 sup-write, 3 user-write.
   * An entry is valid only while its generation equals `gen`, which every TLB or control change
   * bumps, so it is never more than a faster way to find what the TLB holds.
   */
  private readonly fTag = new Float64Array(256).fill(-1);
  private readonly fWord = new Int32Array(256);
  private readonly fGen = new Uint32Array(256);
  private gen = 1;

  constructor(
    readonly id: number,
    readonly format: PagingFormat,
    readonly memory: PhysicalMemory,
    readonly costs: CostModel,
    tlb: TlbGeometry,
    private readonly host: CpuHost,
  ) {
    this.tlb = new Tlb(tlb);
    this.costMem = costs.memAccess;
    this.walker = new PageWalker(format, memory, this);
    this.words = memory.words;
    this.wide = format.entryBytes === 8;
    this.vaLimit = 2 ** format.vaBits;
  }

  get cycles(): number {
    return this.cyclesBase + this.tlbHits * this.costMem;
  }

  set cycles(v: number) {
    this.cyclesBase = v - this.tlbHits * this.costMem;
    this.updateHitLimit();
  }

  get attention(): number {
    return this.attentionAt;
  }

  set attention(at: number) {
    this.attentionAt = at;
    this.updateHitLimit();
  }

  private updateHitLimit(): void {
    const at = this.attentionAt;
    if (at === Number.POSITIVE_INFINITY) this.hitLimit = at;
    else {
      const now = this.cycles;
      if (now >= at) this.hitLimit = this.tlbHits;
      else
        this.hitLimit =
          this.costMem > 0 ? this.tlbHits + Math.ceil((at - now) / this.costMem) : Number.POSITIVE_INFINITY;
    }
  }

  // ---------------------------------------------------------------- control registers

  /**
   * MOV to CR0/CR3/CR4/EFER. A CR3 write flushes non-global TLB entries (and, in PAE mode, loads
   * the four PDPTE registers: a present PDPTE with a reserved bit raises #GP and loads nothing);
   * changing PGE, PSE, SMEP or NXE flushes everything; WP changes only the rights check.
   */
  setControl(s: ControlSettings): void {
    let flushAll = false;
    if (s.pge !== undefined && s.pge !== this.pge) flushAll = true;
    if (s.pse !== undefined && s.pse !== this.pse) flushAll = true;
    if (s.smep !== undefined && s.smep !== this.smep) flushAll = true;
    if (s.nxe !== undefined && s.nxe !== this.nxe) {
      if (s.nxe && !this.format.hasNx)
        throw new CpuException(VEC_GP, 0, `${this.format.name} has no NX bit (EFER.NXE)`);
      flushAll = true;
    }
    if (s.cr3 !== undefined) this.loadCr3(s.cr3);
    if (s.wp !== undefined) this.wp = s.wp;
    if (s.pse !== undefined) this.pse = s.pse;
    if (s.pge !== undefined) this.pge = s.pge;
    if (s.nxe !== undefined) this.nxe = s.nxe;
    if (s.smep !== undefined) this.smep = s.smep;
    this.walker.rights = buildRightsTable(this.wp, this.smep);
    if (flushAll) this.flushTlb();
    this.clearMicro();
  }

  /** MOV to CR3. */
  loadCr3(cr3: number): void {
    // PAE paging keeps a 32-bit CR3 (the PDPT sits below 4 GiB); 4-level CR3 holds MAXPHYADDR bits.
    const limit = this.format.pdpteRegisters ? 2 ** 32 : 2 ** this.format.maxPhysBits;
    if (!Number.isInteger(cr3) || cr3 < 0 || cr3 >= limit) {
      throw new CpuException(VEC_GP, 0, `CR3 value ${cr3} out of range`);
    }
    if (this.format.pdpteRegisters) {
      const base = cr3 - (cr3 % 32);
      const lo = new Uint32Array(4);
      const hi = new Uint32Array(4);
      const [rl, rh] = this.format.rsvPdpte;
      for (let i = 0; i < 4; i++) {
        lo[i] = this.memory.read32(base + i * 8);
        hi[i] = this.memory.read32(base + i * 8 + 4);
        if (((lo[i] as number) & 1) !== 0 && (((lo[i] as number) & rl) !== 0 || ((hi[i] as number) & rh) !== 0)) {
          throw new CpuException(VEC_GP, 0, `#GP(0): reserved bit set in PDPTE ${i} at CR3 load`);
        }
      }
      this.pdpteLo.set(lo);
      this.pdpteHi.set(hi);
    }
    this.cr3 = cr3;
    this.cycles += this.costs.cr3Write;
    this.flushes++;
    this.tlb.flush(this.pge);
    this.clearMicro();
  }

  // ---------------------------------------------------------------- TLB management

  /** INVLPG: drop every TLB entry (global included) for the page containing va. */
  invlpg(va: number): void {
    this.cycles += this.costs.invlpg;
    this.invlpgs++;
    this.tlb.invalidateAddress(va, this.vpnOf(va));
    this.clearMicro();
  }

  /** Flush the whole TLB, global entries included (a CR4.PGE toggle). */
  flushTlb(): void {
    this.cycles += this.costs.tlbFlushAll;
    this.flushes++;
    this.tlb.flush(false);
    this.clearMicro();
  }

  tlbEntries(): TlbEntryView[] {
    return this.tlb.entries();
  }

  private clearMicro(): void {
    this.gen = (this.gen + 1) >>> 0 || 1;
    this.r0t = -1;
    this.r1t = -1;
    this.w0t = -1;
    this.w1t = -1;
  }

  private vpnOf(va: number): number {
    return va < TWO32 ? va >>> 12 : Math.floor(va / 4096);
  }

  // ---------------------------------------------------------------- translation

  /** Translate for inspection and tests: same path as every access (TLB, walk, A/D). */
  translate(va: number, opts: TranslateOptions): TranslateResult {
    const pa = this.xlate(va, accOf(opts.access), opts.user);
    if (pa < 0) return { fault: { vector: this.faultVector, errorCode: this.faultErrorCode, va: this.cr2 } };
    return { pa };
  }

  /**
   * Translate one access. Returns the physical address, or -1 after recording a fault
   * (faultVector, faultErrorCode, cr2). Charges cycles and fills the TLB like the hardware.
   */
  xlate(va: number, acc: number, user: boolean): number {
    if (!(va >= 0 && va < this.vaLimit)) return this.generalProtection(va);
    const vpn = va < TWO32 ? va >>> 12 : Math.floor(va / 4096);
    const tlb = this.tlb;
    const rights = this.walker.rights;
    const u = user ? 32 : 0;
    // Set-associative search, inlined (this is the TLB-hit path of every non-micro access).
    const ways = tlb.smallWays;
    const tags = tlb.sTag;
    let slot = -1;
    for (let i = (vpn & (tlb.smallSets - 1)) * ways, end = i + ways; i < end; i++) {
      if (tags[i] === vpn) {
        slot = i;
        break;
      }
    }
    if (slot >= 0) {
      const f = tlb.sFlags[slot] as number;
      if ((rights[(f & 7) | (acc << 3) | u] as number) === 0) return this.tlbProtectionFault(va, vpn, acc, user);
      if (acc !== ACC_WRITE || (f & TLBF_D) !== 0) {
        this.tlbHits++;
        const word = tlb.sWord[slot] as number;
        this.lastWord = word;
        this.remember(vpn, word, acc, u, f);
        return (tlb.sPa[slot] as number) + (va < TWO32 ? va & 0xfff : va % 4096);
      }
    } else {
      slot = tlb.findLarge(va);
      if (slot >= 0) {
        const f = tlb.lFlags[slot] as number;
        if ((rights[(f & 7) | (acc << 3) | u] as number) === 0) return this.tlbProtectionFault(va, vpn, acc, user);
        if (acc !== ACC_WRITE || (f & TLBF_D) !== 0) {
          this.tlbHits++;
          const off = va - (tlb.lTag[slot] as number);
          const base = tlb.lWord[slot] as number;
          const word = base < 0 ? -1 : base + ((off - (off % 4096)) >>> 2);
          this.lastWord = word;
          this.remember(vpn, word, acc, u, f);
          return (tlb.lPa[slot] as number) + off;
        }
      }
    }
    return this.miss(va, vpn, acc, user);
  }

  /** TLB miss (or a write through a clean entry): walk, then fill. */
  private miss(va: number, vpn: number, acc: number, user: boolean): number {
    const w = this.walker;
    const before = w.levelsRead;
    const adBefore = w.adUpdates;
    this.tlbMisses++;
    const ok = w.walk(va, acc, user);
    const c = this.costs;
    this.cycles += c.tlbMiss + (w.levelsRead - before) * c.walkLevel + (w.adUpdates - adBefore) * c.adUpdate;
    if (!ok) {
      // A page fault invalidates the TLB entries for the faulting address (SDM 4.10.4.1).
      this.tlb.invalidateAddress(va, vpn);
      this.clearMicro();
      return this.pageFault(va, w.errorCode);
    }
    this.cycles += c.memAccess;
    const mem = this.memory;
    let word = -1;
    if (w.size === 4096) {
      const off = mem.isBacked(w.frame, 4096) ? mem.offsetOf(w.frame) : -1;
      word = off < 0 ? -1 : off >>> 2;
      this.tlb.fillSmall(vpn, w.frame, word, w.flags);
    } else {
      const off = mem.isBacked(w.frame, w.size) ? mem.offsetOf(w.frame) : -1;
      const base = off < 0 ? -1 : off >>> 2;
      this.tlb.fillLarge(w.base, w.size, w.frame, base, w.flags);
      const inPage = va - w.base;
      word = base < 0 ? -1 : base + ((inPage - (inPage % 4096)) >>> 2);
    }
    this.clearMicro();
    this.lastWord = word;
    this.remember(vpn, word, acc, user ? 32 : 0, w.flags);
    return w.pa;
  }

  private remember(vpn: number, word: number, acc: number, u: number, f: number): void {
    if (word < 0) return;
    if (acc === ACC_READ || (acc === ACC_WRITE && (f & TLBF_D) !== 0)) {
      const fi = (acc === ACC_WRITE ? 128 : 0) + (u ? 64 : 0) + (vpn & 63);
      this.fTag[fi] = vpn;
      this.fWord[fi] = word;
      this.fGen[fi] = this.gen;
    }
    if (acc === ACC_READ) {
      if (u) {
        this.r1t = vpn;
        this.r1w = word;
      } else {
        this.r0t = vpn;
        this.r0w = word;
      }
    } else if (acc === ACC_WRITE && (f & TLBF_D) !== 0) {
      if (u) {
        this.w1t = vpn;
        this.w1w = word;
      } else {
        this.w0t = vpn;
        this.w0w = word;
      }
    }
  }

  private tlbProtectionFault(va: number, vpn: number, acc: number, user: boolean): number {
    this.tlb.invalidateAddress(va, vpn);
    this.clearMicro();
    return this.pageFault(va, this.walker.protectionError(acc, user));
  }

  private pageFault(va: number, errorCode: number): number {
    this.pageFaults++;
    this.faultVector = VEC_PF;
    this.faultErrorCode = errorCode;
    this.cr2 = va;
    return -1;
  }

  private generalProtection(va: number): number {
    if (!Number.isFinite(va)) throw new RangeError(`linear address ${va} is not a number`);
    if (this.format.vaBits === 32) throw new RangeError(`linear address ${va} does not fit in 32 bits`);
    this.faultVector = VEC_GP;
    this.faultErrorCode = 0;
    this.cr2 = va;
    return -1;
  }

  // ---------------------------------------------------------------- memory accesses (hot path)

  /** Load an unsigned 32-bit value; -1 on a fault. */
  load32(va: number, user: boolean): number {
    if (this.tlbHits >= this.hitLimit) this.service();
    if ((va & 3) === 0) {
      const vpn = va < TWO32 ? va >>> 12 : Math.floor(va / 4096);
      // Fast path: the page last read at this privilege (no allocation, no TLB search).
      if (user ? vpn === this.r1t : vpn === this.r0t) {
        this.tlbHits++;
        return this.words[(user ? this.r1w : this.r0w) + ((va & 0xfff) >>> 2)] as number;
      }
      const fi = (user ? 64 : 0) + (vpn & 63);
      if (this.fTag[fi] === vpn && this.fGen[fi] === this.gen) {
        this.tlbHits++;
        const w = this.fWord[fi] as number;
        if (user) {
          this.r1t = vpn;
          this.r1w = w;
        } else {
          this.r0t = vpn;
          this.r0w = w;
        }
        return this.words[w + ((va & 0xfff) >>> 2)] as number;
      }
      const pa = this.xlate(va, ACC_READ, user);
      if (pa < 0) return -1;
      const w = this.lastWord;
      return w >= 0 ? (this.words[w + ((va & 0xfff) >>> 2)] as number) : this.memory.read32(pa);
    }
    return this.loadSlow(va, 4, user);
  }

  /** Store a 32-bit value; false on a fault. */
  store32(va: number, value: number, user: boolean): boolean {
    if (this.tlbHits >= this.hitLimit) this.service();
    if ((va & 3) === 0) {
      const vpn = va < TWO32 ? va >>> 12 : Math.floor(va / 4096);
      if (user ? vpn === this.w1t : vpn === this.w0t) {
        this.tlbHits++;
        this.words[(user ? this.w1w : this.w0w) + ((va & 0xfff) >>> 2)] = value;
        return true;
      }
      const fi = (user ? 192 : 128) + (vpn & 63);
      if (this.fTag[fi] === vpn && this.fGen[fi] === this.gen) {
        this.tlbHits++;
        const w = this.fWord[fi] as number;
        if (user) {
          this.w1t = vpn;
          this.w1w = w;
        } else {
          this.w0t = vpn;
          this.w0w = w;
        }
        this.words[w + ((va & 0xfff) >>> 2)] = value;
        return true;
      }
      const pa = this.xlate(va, ACC_WRITE, user);
      if (pa < 0) return false;
      const w = this.lastWord;
      if (w >= 0) this.words[w + ((va & 0xfff) >>> 2)] = value;
      else this.memory.write32(pa, value);
      return true;
    }
    return this.storeSlow(va, 4, value, user);
  }

  load8(va: number, user: boolean): number {
    if (this.tlbHits >= this.hitLimit) this.service();
    const pa = this.xlate(va, ACC_READ, user);
    return pa < 0 ? -1 : this.memory.read8(pa);
  }

  store8(va: number, value: number, user: boolean): boolean {
    if (this.tlbHits >= this.hitLimit) this.service();
    const pa = this.xlate(va, ACC_WRITE, user);
    if (pa < 0) return false;
    this.memory.write8(pa, value);
    return true;
  }

  load16(va: number, user: boolean): number {
    return this.loadSlow(va, 2, user);
  }

  store16(va: number, value: number, user: boolean): boolean {
    return this.storeSlow(va, 2, value, user);
  }

  /** A 64-bit load as two halves into `out` (lo, hi); false on a fault. */
  load64(va: number, user: boolean, out: Uint32Array): boolean {
    const lo = this.load32(va, user);
    if (lo < 0) return false;
    const hi = this.load32(va + 4, user);
    if (hi < 0) return false;
    out[0] = lo;
    out[1] = hi;
    return true;
  }

  /** An instruction fetch of one byte (exec permission, NX); -1 on a fault. */
  fetch8(va: number, user: boolean): number {
    if (this.tlbHits >= this.hitLimit) this.service();
    const pa = this.xlate(va, ACC_EXEC, user);
    return pa < 0 ? -1 : this.memory.read8(pa);
  }

  /**
   * Unaligned or sub-word access: byte by byte, as a page-crossing access would be split. All
   * bytes are translated before any is read, so a fault leaves no partial effect.
   */
  private loadSlow(va: number, size: number, user: boolean): number {
    if (this.tlbHits >= this.hitLimit) this.service();
    let v = 0;
    const pas = this.scratchPa;
    for (let i = 0; i < size; i++) {
      const pa = this.xlate(va + i, ACC_READ, user);
      if (pa < 0) return -1;
      pas[i] = pa;
    }
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.memory.read8(pas[i] as number);
    return v;
  }

  private storeSlow(va: number, size: number, value: number, user: boolean): boolean {
    if (this.tlbHits >= this.hitLimit) this.service();
    const pas = this.scratchPa;
    for (let i = 0; i < size; i++) {
      const pa = this.xlate(va + i, ACC_WRITE, user);
      if (pa < 0) return false;
      pas[i] = pa;
    }
    let v = value >>> 0;
    for (let i = 0; i < size; i++) {
      this.memory.write8(pas[i] as number, v & 0xff);
      v >>>= 8;
    }
    return true;
  }
  private readonly scratchPa = new Float64Array(8);

  // ---------------------------------------------------------------- interrupts

  /** Make an interrupt pending on this CPU; it is delivered at the next access where its level is enabled. */
  post(irq: Interrupt): void {
    this.pending.push(irq);
    if (irq.level > this.ipl) this.attention = 0;
  }

  get pendingInterrupts(): readonly Interrupt[] {
    return this.pending;
  }

  /** Run every pending interrupt whose level is above the current ipl, highest first, nested. */
  deliverPendingInterrupts(): void {
    for (;;) {
      let best = -1;
      for (let i = 0; i < this.pending.length; i++) {
        const p = this.pending[i] as Interrupt;
        if (p.level > this.ipl && (best < 0 || p.level > (this.pending[best] as Interrupt).level)) best = i;
      }
      if (best < 0) break;
      const irq = this.pending.splice(best, 1)[0] as Interrupt;
      this.runInterrupt(irq);
    }
    this.recomputeAttention();
  }

  private runInterrupt(irq: Interrupt): void {
    const saved = this.ipl;
    const prev = this.host.enterCpu(this);
    this.cycles += this.costs.interruptEntry;
    this.interrupts++;
    this.ipl = irq.level;
    this.depth++;
    try {
      irq.handler(this);
    } finally {
      this.depth--;
      this.ipl = saved;
      this.cycles += this.costs.interruptExit;
      this.host.leaveCpu(prev);
    }
  }

  /** Called from the hot path when `cycles >= attention`: device events, then interrupts. */
  service(): void {
    this.host.runDueEvents(this);
    this.deliverPendingInterrupts();
  }

  recomputeAttention(): void {
    let deliverable = false;
    for (const p of this.pending) if (p.level > this.ipl) deliverable = true;
    this.attention = deliverable ? 0 : this.host.nextEventTime();
  }

  /** True when an access is due to stop for device events or an interrupt. */
  get needsService(): boolean {
    return this.tlbHits >= this.hitLimit;
  }

  /** Guard used by hot paths that know nothing else: is this format 64-bit entries? */
  get wideEntries(): boolean {
    return this.wide;
  }

  /** Identify an access code from its name (for callers holding strings). */
  static acc(kind: "read" | "write" | "exec"): number {
    return kind === "read" ? ACC_READ : kind === "write" ? ACC_WRITE : ACC_EXEC;
  }
}
