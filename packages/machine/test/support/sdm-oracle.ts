/**
 * An independent x86 paging oracle, written from the rules in Intel SDM Vol. 3A chapter 4
 * (as summarised in the project reference, sections B and C: kvm-unit-tests access.c and
 * Xen XTF calc_fault). It deliberately shares no code with the MMU under test.
 *
 * Given one walk (the entry read at each level, top level first), the control bits and the
 * access, it returns what the hardware must do: the physical address or the page fault, and
 * what every entry of the walk must look like afterwards (A/D write-back).
 *
 * Conventions:
 *  - Every entry is given as 32-bit halves {lo, hi}; for the non-PAE format hi must be 0.
 *  - `va` is the linear address as an unsigned number (amd64: the low 48 bits).
 *  - All results are unsigned (`>>> 0`) numbers; physical addresses can exceed 2^32.
 */

export type PagingFormat = "i386" | "i386-pae" | "amd64";
export type OracleAccessKind = "read" | "write" | "exec";

export interface RawEntry {
  readonly lo: number;
  readonly hi: number;
}

export interface OracleControl {
  /** CR0.WP */
  readonly wp: boolean;
  /** CR4.PSE (only meaningful for the non-PAE format) */
  readonly pse: boolean;
  /** EFER.NXE (only meaningful for PAE and amd64) */
  readonly nxe: boolean;
  /** CR4.SMEP */
  readonly smep: boolean;
}

export interface OracleAccess {
  readonly access: OracleAccessKind;
  readonly user: boolean;
}

export interface OracleQuery {
  readonly format: PagingFormat;
  readonly va: number;
  /**
   * The entry at each level of the walk, top level first (i386: PDE, PTE; i386-pae: PDPTE,
   * PDE, PTE; amd64: PML4E, PDPTE, PDE, PTE). Entries below the point where the walk stops
   * (a fault, or a large page) are not consulted; they must still be given (any value) and
   * are expected to be left untouched.
   */
  readonly entries: readonly RawEntry[];
  readonly control: OracleControl;
  readonly access: OracleAccess;
}

export interface OracleFault {
  readonly vector: number;
  readonly errorCode: number;
  readonly va: number;
}

export type OracleResult = { readonly pa: number } | { readonly fault: OracleFault };

/** The required value of an entry after the access; bits in `ignoreLo` may have either value. */
export interface ExpectedEntry {
  readonly lo: number;
  readonly hi: number;
  readonly ignoreLo: number;
}

export type StopReason = "ok" | "not-present" | "reserved" | "protection" | "pdpte-load";

export interface OracleAnswer {
  readonly result: OracleResult;
  /** Same length and order as `query.entries`. */
  readonly entries: readonly ExpectedEntry[];
  /** Index of the entry where the walk ended (leaf on success / protection fault, faulting entry otherwise). */
  readonly stopLevel: number;
  readonly reason: StopReason;
}

// ---------------------------------------------------------------------------------------------
// Bits

export const BIT_P = 1 << 0;
export const BIT_RW = 1 << 1;
export const BIT_US = 1 << 2;
export const BIT_PWT = 1 << 3;
export const BIT_PCD = 1 << 4;
export const BIT_A = 1 << 5;
export const BIT_D = 1 << 6;
export const BIT_PS = 1 << 7;
export const BIT_G = 1 << 8;
/** Bit 63 of a 64-bit entry, as a bit of the high half. */
export const HI_XD = 0x80000000;

export const ERR_P = 1 << 0;
export const ERR_W = 1 << 1;
export const ERR_U = 1 << 2;
export const ERR_RSVD = 1 << 3;
export const ERR_ID = 1 << 4;

export const VECTOR_GP = 13;
export const VECTOR_PF = 14;

/** A contiguous mask of bits hiBit..loBit of a 64-bit value, as 32-bit halves. */
export function bitRange(hiBit: number, loBit: number): RawEntry {
  let lo = 0;
  let hi = 0;
  for (let b = loBit; b <= hiBit; b++) {
    if (b < 32) lo |= 1 << b;
    else hi |= 1 << (b - 32);
  }
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

/** A single bit of a 64-bit value, as 32-bit halves. */
export function bit64(b: number): RawEntry {
  return bitRange(b, b);
}

function or(a: RawEntry, b: RawEntry): RawEntry {
  return { lo: (a.lo | b.lo) >>> 0, hi: (a.hi | b.hi) >>> 0 };
}

function intersects(e: RawEntry, m: RawEntry): boolean {
  return (e.lo & m.lo) !== 0 || (e.hi & m.hi) !== 0;
}

const NONE: RawEntry = { lo: 0, hi: 0 };

// ---------------------------------------------------------------------------------------------
// Format geometry (SDM 4.3, 4.4, 4.5)

export interface LevelInfo {
  readonly name: string;
  /** Linear-address bit where this level's index starts. */
  readonly shift: number;
  /** Width of the index in bits. */
  readonly indexBits: number;
  /** True for the PAE PDPTEs, which live in registers and carry no rights and no A/D. */
  readonly pdpteRegister: boolean;
}

export interface FormatInfo {
  readonly format: PagingFormat;
  readonly levels: readonly LevelInfo[];
  readonly entryBytes: 4 | 8;
  /** MAXPHYADDR */
  readonly maxPhysBits: number;
  /** Whether bit 63 can be XD (when EFER.NXE=1). */
  readonly hasNx: boolean;
}

const FORMATS: Record<PagingFormat, FormatInfo> = {
  i386: {
    format: "i386",
    entryBytes: 4,
    maxPhysBits: 32,
    hasNx: false,
    levels: [
      { name: "PDE", shift: 22, indexBits: 10, pdpteRegister: false },
      { name: "PTE", shift: 12, indexBits: 10, pdpteRegister: false },
    ],
  },
  "i386-pae": {
    format: "i386-pae",
    entryBytes: 8,
    maxPhysBits: 36,
    hasNx: true,
    levels: [
      { name: "PDPTE", shift: 30, indexBits: 2, pdpteRegister: true },
      { name: "PDE", shift: 21, indexBits: 9, pdpteRegister: false },
      { name: "PTE", shift: 12, indexBits: 9, pdpteRegister: false },
    ],
  },
  amd64: {
    format: "amd64",
    entryBytes: 8,
    maxPhysBits: 40,
    hasNx: true,
    levels: [
      { name: "PML4E", shift: 39, indexBits: 9, pdpteRegister: false },
      { name: "PDPTE", shift: 30, indexBits: 9, pdpteRegister: false },
      { name: "PDE", shift: 21, indexBits: 9, pdpteRegister: false },
      { name: "PTE", shift: 12, indexBits: 9, pdpteRegister: false },
    ],
  },
};

export function formatInfo(format: PagingFormat): FormatInfo {
  return FORMATS[format];
}

/** The index of `va` in the table at `level` (0 = top). Works for VAs beyond 2^32. */
export function walkIndex(format: PagingFormat, level: number, va: number): number {
  const l = levelOf(format, level);
  return Math.floor(va / 2 ** l.shift) % 2 ** l.indexBits;
}

/** Byte offset of the entry for `va` inside the table at `level`. */
export function entryOffset(format: PagingFormat, level: number, va: number): number {
  return walkIndex(format, level, va) * FORMATS[format].entryBytes;
}

function levelOf(format: PagingFormat, level: number): LevelInfo {
  const l = FORMATS[format].levels[level];
  if (l === undefined) throw new Error(`${format} has no paging level ${level}`);
  return l;
}

/**
 * Physical address held in an entry's address field (bits M-1:12), i.e. the next table for
 * a non-leaf entry. For the non-PAE format that is bits 31:12.
 */
export function tableAddress(format: PagingFormat, entry: RawEntry): number {
  const f = FORMATS[format];
  const loPart = (entry.lo & 0xfffff000) >>> 0;
  if (f.entryBytes === 4) return loPart;
  const hiMask = 2 ** (f.maxPhysBits - 32) - 1;
  return (entry.hi & hiMask) * 2 ** 32 + loPart;
}

/** Page size mapped by a leaf at `level` (0 = top). */
export function leafPageSize(format: PagingFormat, level: number): number {
  return 2 ** levelOf(format, level).shift;
}

/**
 * Whether the entry at `level` maps a page (ends the walk) when it is present:
 *  - the last level always;
 *  - non-PAE PDE with PS=1 only when CR4.PSE=1 (otherwise PS is ignored);
 *  - PAE PDE with PS=1 (regardless of CR4.PSE);
 *  - amd64 PDE or PDPTE with PS=1 (PML4E.PS is reserved, never a page).
 */
export function isLeaf(format: PagingFormat, level: number, entry: RawEntry, control: OracleControl): boolean {
  const levels = FORMATS[format].levels;
  if (level === levels.length - 1) return true;
  const ps = (entry.lo & BIT_PS) !== 0;
  switch (format) {
    case "i386":
      return level === 0 && ps && control.pse;
    case "i386-pae":
      return level === 1 && ps;
    case "amd64":
      return (level === 1 || level === 2) && ps;
  }
}

/**
 * Reserved bits of a present entry at `level` (SDM tables 4-4..4-20). The PAE PDPTE mask is
 * the one checked when the PDPTE registers are loaded.
 */
export function reservedMask(format: PagingFormat, level: number, entry: RawEntry, control: OracleControl): RawEntry {
  const leaf = isLeaf(format, level, entry, control);
  const last = level === FORMATS[format].levels.length - 1;
  const large = leaf && !last;
  switch (format) {
    case "i386":
      // 32-bit paging: reserved bits exist only in a 4 MiB PDE (CR4.PSE=1, PS=1). Without
      // PSE-36 (MAXPHYADDR 32 here) bits 21:13 are reserved; bit 12 is PAT.
      return large ? bitRange(21, 13) : NONE;
    case "i386-pae": {
      if (level === 0) {
        // PDPTE: 2:1, 8:5 and 63:M. No XD, no rights.
        return or(or(bitRange(2, 1), bitRange(8, 5)), bitRange(63, 36));
      }
      // PDE/PTE: 62:M reserved; 63 is XD with NXE, reserved otherwise.
      let m = bitRange(62, 36);
      if (!control.nxe) m = or(m, bit64(63));
      if (large) m = or(m, bitRange(20, 13)); // 2 MiB PDE: PAT at 12, 20:13 reserved
      return m;
    }
    case "amd64": {
      // All levels: 51:M reserved (62:52 ignored); 63 reserved without NXE.
      let m = bitRange(51, 40);
      if (!control.nxe) m = or(m, bit64(63));
      if (level === 0) m = or(m, bit64(7)); // PML4E.PS must be 0
      if (large && level === 1) m = or(m, bitRange(29, 13)); // 1 GiB page
      if (large && level === 2) m = or(m, bitRange(20, 13)); // 2 MiB page
      return m;
    }
  }
}

/**
 * PAE: whether loading these PDPTE registers (MOV CR3 etc.) raises #GP(0): a present PDPTE
 * with any reserved bit set. Non-present PDPTEs are not checked.
 */
export function paePdpteLoadFaults(pdptes: readonly RawEntry[]): boolean {
  const ctl: OracleControl = { wp: false, pse: false, nxe: false, smep: false };
  return pdptes.some((e) => (e.lo & BIT_P) !== 0 && intersects(e, reservedMask("i386-pae", 0, e, ctl)));
}

// ---------------------------------------------------------------------------------------------
// The oracle

/**
 * Expected outcome of one access through one walk.
 *
 * Rules (SDM 4.6, 4.7, 4.8; reference B.3-B.5, C.5):
 *  1. Walk top-down. At the first entry with P=0 stop with #PF, error P=0. At the first
 *     present entry with a reserved bit set stop with #PF, error P=1|RSVD. (PAE PDPTEs are
 *     pre-checked at load time: reserved bits there mean #GP at load, reported here as
 *     vector 13 with reason "pdpte-load".)
 *  2. Rights are only evaluated once a complete translation exists: R/W and U/S are ANDed
 *     over all used entries, XD is ORed (only when the format has NX and EFER.NXE=1). PAE
 *     PDPTEs take no part.
 *  3. User access: needs U/S=1; a write needs R/W=1 (whatever CR0.WP); a fetch needs XD=0.
 *     Supervisor access: a write needs R/W=1 only when CR0.WP=1; a fetch needs XD=0, and when
 *     CR4.SMEP=1 a fetch from a user page (U/S=1) faults.
 *  4. Error code: W for writes, U for user accesses, I/D for fetches only when CR4.SMEP=1 or
 *     (format has NX and EFER.NXE=1); P=1 for reserved-bit and protection faults.
 *  5. A/D: on success A is set in every entry used (not PAE PDPTEs) and D in the leaf on a
 *     write. On a fault the entry where the walk ended is unchanged; the entries above it may
 *     or may not get A (don't care, if it was clear). Entries not consulted are unchanged.
 */
export function sdmTranslate(q: OracleQuery): OracleAnswer {
  const f = FORMATS[q.format];
  const { control, access } = q;
  if (q.entries.length !== f.levels.length) {
    throw new Error(`${q.format} walk needs ${f.levels.length} entries, got ${q.entries.length}`);
  }
  if (f.entryBytes === 4 && q.entries.some((e) => e.hi !== 0)) {
    throw new Error("non-PAE entries are 32-bit: hi must be 0");
  }
  const write = access.access === "write";
  const exec = access.access === "exec";
  const nxActive = f.hasNx && control.nxe;

  let base = 0;
  if (write) base |= ERR_W;
  if (access.user) base |= ERR_U;
  if (exec && (control.smep || nxActive)) base |= ERR_ID;

  const fault = (errorCode: number, vector = VECTOR_PF): OracleResult => ({
    fault: { vector, errorCode: errorCode >>> 0, va: q.va },
  });

  // Rule 5 for faults: entries above `stop` may get A; `stop` and below are unchanged.
  const faultEntries = (stop: number): ExpectedEntry[] =>
    q.entries.map((e, i) => ({
      lo: e.lo >>> 0,
      hi: e.hi >>> 0,
      ignoreLo: i < stop && !levelOf(q.format, i).pdpteRegister && (e.lo & BIT_A) === 0 ? BIT_A : 0,
    }));

  let writable = true;
  let user = true;
  let noExec = false;
  let leaf = -1;

  for (let i = 0; i < f.levels.length; i++) {
    const e = q.entries[i] as RawEntry;
    const l = f.levels[i] as LevelInfo;
    if ((e.lo & BIT_P) === 0) {
      return { result: fault(base), entries: faultEntries(i), stopLevel: i, reason: "not-present" };
    }
    if (intersects(e, reservedMask(q.format, i, e, control))) {
      if (l.pdpteRegister) {
        return { result: fault(0, VECTOR_GP), entries: faultEntries(i), stopLevel: i, reason: "pdpte-load" };
      }
      return {
        result: fault(base | ERR_P | ERR_RSVD),
        entries: faultEntries(i),
        stopLevel: i,
        reason: "reserved",
      };
    }
    if (!l.pdpteRegister) {
      writable &&= (e.lo & BIT_RW) !== 0;
      user &&= (e.lo & BIT_US) !== 0;
      if (nxActive) noExec ||= (e.hi & HI_XD) !== 0;
    }
    if (isLeaf(q.format, i, e, control)) {
      leaf = i;
      break;
    }
  }
  if (leaf < 0) throw new Error("unreachable: the last level is always a leaf");

  let denied: boolean;
  if (access.user) {
    denied = !user || (write && !writable) || (exec && noExec);
  } else {
    denied = (write && !writable && control.wp) || (exec && noExec) || (exec && control.smep && user);
  }
  if (denied) {
    return { result: fault(base | ERR_P), entries: faultEntries(leaf), stopLevel: leaf, reason: "protection" };
  }

  const entries: ExpectedEntry[] = q.entries.map((e, i) => {
    let lo = e.lo;
    if (i <= leaf && !levelOf(q.format, i).pdpteRegister) {
      lo |= BIT_A;
      if (i === leaf && write) lo |= BIT_D;
    }
    return { lo: lo >>> 0, hi: e.hi >>> 0, ignoreLo: 0 };
  });

  const leafEntry = q.entries[leaf] as RawEntry;
  const size = leafPageSize(q.format, leaf);
  // Frame: the address field with the bits below the page size removed. (In a large page
  // those low bits are PAT and reserved bits, which are zero or already caught above.)
  const frame = tableAddress(q.format, leafEntry);
  const framePage = frame - (frame % size);
  const pa = framePage + (q.va % size);
  return { result: { pa }, entries, stopLevel: leaf, reason: "ok" };
}

/** Whether an entry read back from memory satisfies the expectation. */
export function entryMatches(expected: ExpectedEntry, lo: number, hi: number): boolean {
  const keep = ~expected.ignoreLo;
  return (lo & keep) >>> 0 === (expected.lo & keep) >>> 0 && hi >>> 0 === expected.hi >>> 0;
}

/** "P|RW|US|A ... XD" style rendering of an entry, for failure messages. */
export function describeEntry(e: RawEntry): string {
  const names: [number, string][] = [
    [BIT_P, "P"],
    [BIT_RW, "RW"],
    [BIT_US, "US"],
    [BIT_PWT, "PWT"],
    [BIT_PCD, "PCD"],
    [BIT_A, "A"],
    [BIT_D, "D"],
    [BIT_PS, "PS"],
    [BIT_G, "G"],
  ];
  const parts = names.filter(([b]) => (e.lo & b) !== 0).map(([, n]) => n);
  if ((e.hi & HI_XD) !== 0) parts.push("XD");
  const raw = `${hex(e.hi)}_${hex(e.lo)}`;
  return `${parts.join("|") || "0"}(${raw})`;
}

export function hex(n: number, width = 8): string {
  return `0x${n.toString(16).padStart(width, "0")}`;
}
