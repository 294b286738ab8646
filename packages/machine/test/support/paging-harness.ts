/**
 * Test harness that plays one walk's entries into a simulated machine, translates, and
 * compares the outcome and the entries' A/D write-back with the SDM oracle.
 *
 * Only the public machine API is used (structurally typed here, so this file does not depend
 * on the implementation).
 */
import type { ControlSettings, TranslateOptions, TranslateResult } from "../../src/types.js";
import {
  bit64,
  describeEntry,
  type ExpectedEntry,
  entryMatches,
  formatInfo,
  hex,
  isLeaf,
  type OracleAccess,
  type OracleAnswer,
  type OracleControl,
  type PagingFormat,
  type RawEntry,
  sdmTranslate,
  tableAddress,
  walkIndex,
} from "./sdm-oracle.js";

export interface MemoryLike {
  write32(pa: number, v: number): void;
  read32(pa: number): number;
  write64(pa: number, lo: number, hi: number): void;
  read64(pa: number): readonly number[];
  zeroRange(pa: number, bytes: number): void;
}

export interface CpuLike {
  setControl(c: ControlSettings): void;
  translate(va: number, o: TranslateOptions): TranslateResult;
  flushTlb(): void;
  invlpg(va: number): void;
}

export interface MachineLike {
  readonly memory: MemoryLike;
  readonly cpus: readonly CpuLike[];
}

export const ACCESSES: readonly OracleAccess[] = [
  { access: "read", user: false },
  { access: "write", user: false },
  { access: "exec", user: false },
  { access: "read", user: true },
  { access: "write", user: true },
  { access: "exec", user: true },
];

/** Main-enumeration variants: fresh walk, or primed by a first access without a flush. */
export const PRIME_MODES: readonly {
  readonly name: string;
  readonly prime: (a: OracleAccess) => OracleAccess | undefined;
}[] = [
  { name: "", prime: () => undefined },
  { name: ", after a supervisor read (TLB warm)", prime: () => ({ access: "read", user: false }) },
  { name: ", access done twice (TLB warm)", prime: (a) => a },
];

export function describeAccess(a: OracleAccess): string {
  return `${a.user ? "user" : "sup"}-${a.access}`;
}

export function describeControl(c: OracleControl): string {
  const on = (b: boolean, n: string) => (b ? n : `!${n}`);
  return [on(c.wp, "WP"), on(c.pse, "PSE"), on(c.nxe, "NXE"), on(c.smep, "SMEP")].join(",");
}

export function setControls(cpu: CpuLike, c: OracleControl, cr3?: number): void {
  const s: ControlSettings = { wp: c.wp, pse: c.pse, pge: false, nxe: c.nxe, smep: c.smep };
  cpu.setControl(cr3 === undefined ? s : { ...s, cr3 });
}

/** Where each entry of a walk lives; -1 if the walk cannot reach it (below a leaf). */
export function entryLocations(
  format: PagingFormat,
  cr3: number,
  va: number,
  entries: readonly RawEntry[],
  control: OracleControl,
  memBytes: number,
): number[] {
  const f = formatInfo(format);
  const locs: number[] = [];
  let table = format === "i386-pae" ? cr3 - (cr3 % 32) : cr3 - (cr3 % 4096);
  for (let i = 0; i < f.levels.length; i++) {
    const e = entries[i] as RawEntry;
    const at = table + walkIndex(format, i, va) * f.entryBytes;
    if (table < 0 || at + f.entryBytes > memBytes) {
      locs.push(-1);
      break;
    }
    if (locs.includes(at)) throw new Error(`harness: two walk levels share ${hex(at)}`);
    locs.push(at);
    if (isLeaf(format, i, e, control)) break;
    table = tableAddress(format, e);
  }
  while (locs.length < f.levels.length) locs.push(-1);
  return locs;
}

function readEntry(mem: MemoryLike, bytes: 4 | 8, at: number): RawEntry {
  if (bytes === 4) return { lo: mem.read32(at) >>> 0, hi: 0 };
  const v = mem.read64(at);
  return { lo: (v[0] ?? 0) >>> 0, hi: (v[1] ?? 0) >>> 0 };
}

function writeEntry(mem: MemoryLike, bytes: 4 | 8, at: number, e: RawEntry): void {
  if (bytes === 4) mem.write32(at, e.lo >>> 0);
  else mem.write64(at, e.lo >>> 0, e.hi >>> 0);
}

function describeResult(
  r: TranslateResult | { pa: number } | { fault: { vector: number; errorCode: number; va: number } },
): string {
  if ("pa" in r) return `pa=${hex(r.pa)}`;
  const f = r.fault;
  return `fault(vec=${f.vector},err=${hex(f.errorCode, 2)},va=${hex(f.va)})`;
}

function describeExpected(e: ExpectedEntry): string {
  return describeEntry(e) + (e.ignoreLo ? "[A?]" : "");
}

export interface CaseSpec {
  readonly entries: readonly RawEntry[];
  readonly access: OracleAccess;
  /**
   * Optional first access (like kvm-unit-tests' ACCESS_TWICE): performed after the TLB flush
   * and before the tested access, without flushing in between, so the tested access may hit
   * the TLB / paging-structure caches filled by it. The tested access is then compared with
   * the oracle applied to the entries as they are in memory after the first access.
   */
  readonly prime?: OracleAccess | undefined;
  /** Flag vector for messages, built only on mismatch. */
  readonly label: () => string;
}

export interface RunContext {
  readonly machine: MachineLike;
  readonly format: PagingFormat;
  readonly cr3: number;
  readonly va: number;
  readonly control: OracleControl;
  readonly memBytes: number;
  /**
   * PAE: reload CR3 after writing the entries, so the PDPTE written this case is loaded into
   * the PDPTE registers (a load of a bad PDPTE must throw an error with vector 13).
   */
  readonly reloadCr3?: boolean;
}

/**
 * Run one case: write the walk's entries, flush the TLB, translate, compare with the oracle,
 * then zero the entries again. Returns null on agreement, a description otherwise.
 */
export function runCase(ctx: RunContext, spec: CaseSpec): string | null {
  const { machine, format, cr3, va, control } = ctx;
  const f = formatInfo(format);
  const mem = machine.memory;
  const cpu = machine.cpus[0] as CpuLike;
  const locs = entryLocations(format, cr3, va, spec.entries, control, ctx.memBytes);
  for (let i = 0; i < locs.length; i++) {
    const at = locs[i] as number;
    if (at >= 0) writeEntry(mem, f.entryBytes, at, spec.entries[i] as RawEntry);
  }
  let want: OracleAnswer = sdmTranslate({ format, va, entries: spec.entries, control, access: spec.access });
  const problems: string[] = [];
  let got: TranslateResult | undefined;
  let loaded = true;
  if (ctx.reloadCr3) {
    let loadError: unknown;
    try {
      cpu.setControl({ cr3 });
    } catch (err) {
      loadError = err;
    }
    if (want.reason === "pdpte-load") {
      loaded = false;
      const vec = (loadError as { vector?: unknown } | undefined)?.vector;
      if (loadError === undefined) problems.push("CR3 load with a reserved PDPTE bit did not raise #GP");
      else if (vec !== 13)
        problems.push(`CR3 load raised ${String(loadError)} (vector ${String(vec)}), want vector 13`);
    } else if (loadError !== undefined) {
      loaded = false;
      problems.push(`CR3 load threw unexpectedly: ${String(loadError)}`);
    }
  }
  if (loaded) {
    try {
      cpu.flushTlb();
      if (spec.prime !== undefined) {
        cpu.translate(va, { access: spec.prime.access, user: spec.prime.user });
        const now = spec.entries.map((e, i) => {
          const at = locs[i] as number;
          return at >= 0 ? readEntry(mem, f.entryBytes, at) : e;
        });
        want = sdmTranslate({ format, va, entries: now, control, access: spec.access });
      }
      got = cpu.translate(va, { access: spec.access.access, user: spec.access.user });
    } catch (err) {
      problems.push(`translate threw ${(err as Error)?.message ?? String(err)}`);
    }
  }
  if (got !== undefined && want.reason !== "pdpte-load") {
    const w = want.result;
    if ("pa" in w) {
      if (!("pa" in got) || got.pa !== w.pa) problems.push(`result ${describeResult(got)} want ${describeResult(w)}`);
    } else if (!("fault" in got)) {
      problems.push(`result ${describeResult(got)} want ${describeResult(w)}`);
    } else if (
      got.fault.vector !== w.fault.vector ||
      got.fault.errorCode >>> 0 !== w.fault.errorCode ||
      got.fault.va !== w.fault.va
    ) {
      problems.push(`result ${describeResult(got)} want ${describeResult(w)}`);
    }
  }
  for (let i = 0; i < locs.length; i++) {
    const at = locs[i] as number;
    if (at < 0) continue;
    const actual = readEntry(mem, f.entryBytes, at);
    const exp = want.entries[i] as ExpectedEntry;
    if (!entryMatches(exp, actual.lo, actual.hi)) {
      const name = (f.levels[i] as { name: string }).name;
      problems.push(`${name} after=${describeEntry(actual)} want ${describeExpected(exp)}`);
    }
    writeEntry(mem, f.entryBytes, at, { lo: 0, hi: 0 });
  }
  if (problems.length === 0) return null;
  const prime = spec.prime === undefined ? "" : ` after ${describeAccess(spec.prime)} then`;
  return `[${format} ${spec.label()}${prime} ${describeAccess(spec.access)} ${describeControl(control)}] ${problems.join("; ")}`;
}

/** Collects mismatches; keeps the count and the first `keep` messages. */
export class MismatchLog {
  count = 0;
  total = 0;
  readonly first: string[] = [];
  constructor(readonly keep = 20) {}
  add(m: string | null): void {
    this.total++;
    if (m === null) return;
    this.count++;
    if (this.first.length < this.keep) this.first.push(m);
  }
  /** Shape for `expect(...).toEqual({ mismatches: 0, first: [] })`. */
  summary(): { mismatches: number; first: string[] } {
    return { mismatches: this.count, first: this.first };
  }
}

/** Iterate all assignments of `names` to booleans (first name = least significant bit). */
export function* boolVectors<K extends string>(names: readonly K[]): Generator<Record<K, boolean>> {
  const n = names.length;
  for (let v = 0; v < 2 ** n; v++) {
    const r = {} as Record<K, boolean>;
    for (let i = 0; i < n; i++) r[names[i] as K] = ((v >>> i) & 1) === 1;
    yield r;
  }
}

/** Entry-flag vector used by the enumerations. */
export interface EntryFlags {
  p?: boolean;
  rw?: boolean;
  us?: boolean;
  a?: boolean;
  d?: boolean;
  nx?: boolean;
  ps?: boolean;
}

/** Build an entry from an address and flags. `addr` may exceed 2^32 (64-bit formats). */
export function makeEntry(addr: number, fl: EntryFlags, extra: RawEntry = { lo: 0, hi: 0 }): RawEntry {
  let lo = addr % 2 ** 32;
  let hi = Math.floor(addr / 2 ** 32);
  if (fl.p) lo |= 1;
  if (fl.rw) lo |= 2;
  if (fl.us) lo |= 4;
  if (fl.a) lo |= 0x20;
  if (fl.d) lo |= 0x40;
  if (fl.ps) lo |= 0x80;
  if (fl.nx) hi |= 0x80000000;
  return { lo: (lo | extra.lo) >>> 0, hi: (hi | extra.hi) >>> 0 };
}

export function describeFlags(name: string, fl: EntryFlags): string {
  const parts: string[] = [];
  if (fl.p) parts.push("P");
  if (fl.rw) parts.push("RW");
  if (fl.us) parts.push("US");
  if (fl.a) parts.push("A");
  if (fl.d) parts.push("D");
  if (fl.nx) parts.push("NX");
  if (fl.ps) parts.push("PS");
  return `${name}=${parts.join("|") || "0"}`;
}

/** Fixed table placement for one format. */
export interface Layout {
  readonly format: PagingFormat;
  /** CR3 value (PD / PDPT / PML4 address). */
  readonly cr3: number;
  /** Table address used for level i (index 0 is the CR3 table, for documentation). */
  readonly tables: readonly number[];
  /** Frame used when level i maps a large page (PS=1). */
  readonly largeFrames: Readonly<Record<number, number>>;
  /** 4 KiB data frame. */
  readonly frame: number;
  readonly va: number;
}

/**
 * Build one walk from per-level flags. A level with `ps` whose layout has a large frame gets
 * that frame; the last level gets the 4 KiB frame; other levels point to the next table.
 * `extra[i]` is ORed into level i (e.g. a reserved bit).
 */
export function buildWalk(
  layout: Layout,
  flags: readonly EntryFlags[],
  extra: readonly (RawEntry | undefined)[] = [],
): RawEntry[] {
  const n = formatInfo(layout.format).levels.length;
  const out: RawEntry[] = [];
  for (let i = 0; i < n; i++) {
    const fl = flags[i] ?? {};
    const big = layout.largeFrames[i];
    let addr: number;
    if (fl.ps && big !== undefined) addr = big;
    else if (i === n - 1) addr = layout.frame;
    else addr = layout.tables[i + 1] as number;
    out.push(makeEntry(addr, fl, extra[i]));
  }
  return out;
}

/** Totals across a test file, printed at the end for the report. */
export const combinationCounter = new Map<string, number>();
export function countCombinations(key: string, n: number): void {
  combinationCounter.set(key, (combinationCounter.get(key) ?? 0) + n);
}

/** One reserved/ignored-bit probe: `bit` set in the entry at `level`. */
export interface BitProbe {
  readonly level: number;
  /** The level maps a large page (PS=1). */
  readonly large: boolean;
  readonly bit: number;
  /** Written from the SDM tables, independently of the oracle's masks. */
  readonly reserved: (c: OracleControl) => boolean;
}

export function range(lo: number, hi: number): number[] {
  const r: number[] = [];
  for (let b = lo; b <= hi; b++) r.push(b);
  return r;
}

export interface ProbeOptions {
  /** PAE: level 0 is a PDPTE (P only); it is written and CR3 reloaded for every case. */
  readonly paePdpte: boolean;
  /** Non-PAE: also run with CR4.PSE=0. */
  readonly varyPse: boolean;
  /** Also run with EFER.NXE=1 (formats with NX). */
  readonly varyNxe: boolean;
  readonly memBytes: number;
}

/**
 * Run each probe with the tested entry present and not present, the other entries
 * P|RW|(US or not), every access, WP=1 and SMEP (and NXE, PSE where enabled) both ways. Also cross-checks
 * the oracle against the probe table (a second, independent listing of the reserved bits).
 */
export function runProbes(m: MachineLike, layout: Layout, probes: readonly BitProbe[], opt: ProbeOptions) {
  const log = new MismatchLog();
  const oracleLog = new MismatchLog();
  const n = formatInfo(layout.format).levels.length;
  const cpu = m.cpus[0] as CpuLike;
  for (const c0 of boolVectors(["nxe", "smep", "pse"] as const)) {
    const c: OracleControl = { wp: true, ...c0 };
    if (!opt.varyPse && c.pse) continue;
    if (!opt.varyNxe && c.nxe) continue;
    for (const probe of probes) {
      for (const p of [true, false]) {
        for (const otherUs of [true, false]) {
          const flags: EntryFlags[] = [];
          for (let i = 0; i < n; i++) {
            if (opt.paePdpte && i === 0) flags.push({ p: true });
            else
              flags.push({
                p: i === probe.level ? p : true,
                rw: true,
                us: i === probe.level || otherUs,
                ps: i === probe.level && probe.large,
              });
          }
          const extra: (RawEntry | undefined)[] = [];
          extra[probe.level] = bit64(probe.bit);
          const entries = buildWalk(layout, flags, extra);
          if (opt.paePdpte) setControls(cpu, c);
          else setControls(cpu, c, layout.cr3);
          const ctx: RunContext = {
            machine: m,
            format: layout.format,
            cr3: layout.cr3,
            va: layout.va,
            control: c,
            memBytes: opt.memBytes,
            reloadCr3: opt.paePdpte,
          };
          for (const access of ACCESSES) {
            const label = () =>
              `probe level=${probe.level}${probe.large ? "(large)" : ""} bit=${probe.bit} P=${p ? 1 : 0} otherUS=${otherUs ? 1 : 0} entries=${entries.map(describeEntry).join(",")}`;
            const want = sdmTranslate({ format: layout.format, va: layout.va, entries, control: c, access });
            const tableSaysReserved = p && probe.reserved(c);
            const oracleSaysReserved = want.reason === "reserved" && want.stopLevel === probe.level;
            if (tableSaysReserved !== oracleSaysReserved) {
              oracleLog.add(
                `ORACLE vs table: ${label()} ${describeAccess(access)} ${describeControl(c)} oracle=${want.reason}@${want.stopLevel}`,
              );
            } else if (tableSaysReserved && "fault" in want.result && (want.result.fault.errorCode & 9) !== 9) {
              oracleLog.add(`ORACLE: RSVD fault without P|RSVD: ${label()}`);
            } else oracleLog.add(null);
            log.add(runCase(ctx, { entries, access, label }));
          }
        }
      }
    }
  }
  return { log, oracleLog };
}
