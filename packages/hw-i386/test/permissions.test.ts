/**
 * Exhaustive permission / translation tests for i386 paging (non-PAE and PAE), comparing the
 * MMU with the independent SDM oracle (packages/machine/test/support/sdm-oracle.ts).
 */
import { afterAll, describe, expect, it } from "vitest";
import {
  ACCESSES,
  type BitProbe,
  boolVectors,
  buildWalk,
  combinationCounter,
  countCombinations,
  describeControl,
  describeFlags,
  type EntryFlags,
  type Layout,
  type MachineLike,
  MismatchLog,
  PRIME_MODES,
  type RunContext,
  range,
  runCase,
  runProbes,
  setControls,
} from "../../machine/test/support/paging-harness.js";
import {
  bit64,
  describeEntry,
  hex,
  type OracleControl,
  paePdpteLoadFaults,
  type RawEntry,
} from "../../machine/test/support/sdm-oracle.js";
import { i386, i386Pae } from "../src/index.js";

const MEM_MIB = 16;
const MEM_BYTES = MEM_MIB * 1024 * 1024;
const EMPTY = { mismatches: 0, first: [] as string[] };

// Non-PAE: PD at 1 MiB. The PT sits at 4 MiB, which is also the 4 MiB page frame, so one PDE
// value serves both meanings of PS (PS is ignored when CR4.PSE=0).
const NONPAE: Layout = {
  format: "i386",
  cr3: 0x100000,
  tables: [0x100000, 0x400000],
  largeFrames: { 0: 0x400000 },
  frame: 0x800000,
  va: 0x12345678, // PD index 0x48, PT index 0x345, offset 0x678
};

// PAE: the PDPT is the last 32 bytes of a page (CR3 only needs 32-byte alignment).
const PAE: Layout = {
  format: "i386-pae",
  cr3: 0x100fe0,
  tables: [0x100fe0, 0x102000, 0x103000],
  largeFrames: { 1: 0x800000 },
  frame: 0x800000,
  va: 0xd2345678, // PDPT index 3, PD index 0x91, PT index 0x145, offset 0x678
};

const PDPTE_OK: EntryFlags = { p: true };

function ctxFor(m: MachineLike, layout: Layout, control: OracleControl, reloadCr3 = false): RunContext {
  return { machine: m, format: layout.format, cr3: layout.cr3, va: layout.va, control, memBytes: MEM_BYTES, reloadCr3 };
}

let nonPae: MachineLike | undefined;
let pae: MachineLike | undefined;
function nonPaeMachine(): MachineLike {
  nonPae ??= i386({ memoryMiB: MEM_MIB, cpus: 1 }).boot();
  return nonPae;
}
function paeMachine(): MachineLike {
  pae ??= i386Pae({ memoryMiB: MEM_MIB, cpus: 1 }).boot();
  return pae;
}

afterAll(() => {
  for (const [k, v] of combinationCounter) console.log(`[permissions] ${k}: ${v} combinations`);
});

const PDE_NONPAE = ["p", "rw", "us", "a", "d", "ps"] as const;
const PTE_NONPAE = ["p", "rw", "us", "a", "d"] as const;
const PDE_PAE = ["p", "rw", "us", "a", "d", "nx", "ps"] as const;
const PTE_PAE = ["p", "rw", "us", "a", "d", "nx"] as const;

// -------------------------------------------------------------------------------------------
describe("i386 non-PAE: PDE x PTE x controls x access (exhaustive)", () => {
  // EFER.NXE is not enumerated: this machine models a CPU without NX, and setting NXE
  // raises #GP (checked separately below).
  for (const mode of PRIME_MODES)
    for (const c0 of boolVectors(["wp", "pse", "smep"] as const)) {
      const c: OracleControl = { ...c0, nxe: false };
      it(`all PDE/PTE flag vectors, ${describeControl(c)}${mode.name}`, () => {
        const m = nonPaeMachine();
        const cpu = m.cpus[0]!;
        setControls(cpu, c, NONPAE.cr3);
        const ctx = ctxFor(m, NONPAE, c);
        const log = new MismatchLog();
        for (const pde of boolVectors(PDE_NONPAE)) {
          for (const pte of boolVectors(PTE_NONPAE)) {
            const entries = buildWalk(NONPAE, [pde, pte]);
            const label = () => `${describeFlags("pde", pde)} ${describeFlags("pte", pte)}`;
            for (const access of ACCESSES) log.add(runCase(ctx, { entries, access, label, prime: mode.prime(access) }));
          }
        }
        countCombinations(`i386 main${mode.name}`, log.total);
        expect(log.total).toBe(64 * 32 * 6);
        expect(log.summary()).toEqual(EMPTY);
      });
    }
});

// -------------------------------------------------------------------------------------------
const yes = () => true;
const no = () => false;

const NONPAE_PROBES: BitProbe[] = [
  // 4 MiB PDE with CR4.PSE=1: bits 21:13 reserved (no PSE-36); bit 12 PAT; G, 11:9, PWT/PCD fine.
  ...range(13, 21).map((bit) => ({ level: 0, large: true, bit, reserved: (c: OracleControl) => c.pse })),
  ...[3, 4, 8, 9, 10, 11, 12].map((bit) => ({ level: 0, large: true, bit, reserved: no })),
  // PDE -> PT: no reserved bits (bit 6 and 8 ignored). Bits 13..21 are PT address bits here.
  ...[3, 4, 6, 8, 9, 10, 11, 13, 21].map((bit) => ({ level: 0, large: false, bit, reserved: no })),
  // 4 KiB PTE: no reserved bits at all.
  ...[3, 4, 7, 8, 9, 10, 11].map((bit) => ({ level: 1, large: false, bit, reserved: no })),
];

const PAE_PROBES: BitProbe[] = [
  // PDE -> PT: 62:36 reserved, 63 reserved without NXE. 6, 8, 11:9 ignored.
  ...range(36, 62).map((bit) => ({ level: 1, large: false, bit, reserved: yes })),
  { level: 1, large: false, bit: 63, reserved: (c) => !c.nxe },
  ...[3, 4, 6, 8, 9, 10, 11].map((bit) => ({ level: 1, large: false, bit, reserved: no })),
  // 2 MiB PDE: 20:13 reserved as well; 12 is PAT.
  ...range(13, 20).map((bit) => ({ level: 1, large: true, bit, reserved: yes })),
  ...[36, 47, 52, 62].map((bit) => ({ level: 1, large: true, bit, reserved: yes })),
  { level: 1, large: true, bit: 63, reserved: (c) => !c.nxe },
  ...[8, 9, 12].map((bit) => ({ level: 1, large: true, bit, reserved: no })),
  // PTE: 62:36 reserved, 63 without NXE; 7 (PAT), 8 (G), 11:9 fine.
  ...range(36, 62).map((bit) => ({ level: 2, large: false, bit, reserved: yes })),
  { level: 2, large: false, bit: 63, reserved: (c) => !c.nxe },
  ...[3, 4, 7, 8, 9, 10, 11].map((bit) => ({ level: 2, large: false, bit, reserved: no })),
];

describe("i386 non-PAE: EFER.NXE", () => {
  it("setting NXE either raises #GP (CPU without NX) or changes nothing (no I/D bit without SMEP)", () => {
    const m = nonPaeMachine();
    const cpu = m.cpus[0]!;
    setControls(cpu, { wp: true, pse: false, nxe: false, smep: false }, NONPAE.cr3);
    m.memory.zeroRange(NONPAE.cr3, 0x1000);
    let err: unknown;
    try {
      cpu.setControl({ nxe: true });
    } catch (e) {
      err = e;
    }
    if (err !== undefined) {
      expect((err as { vector?: unknown }).vector).toBe(13);
    } else {
      cpu.flushTlb();
      expect(cpu.translate(NONPAE.va, { access: "exec", user: true })).toEqual({
        fault: { vector: 14, errorCode: 0b100, va: NONPAE.va },
      });
      cpu.setControl({ nxe: false });
    }
  });
});

describe("i386 non-PAE: reserved and ignored bits", () => {
  it("one bit at a time in 4 MiB PDEs, PT-pointing PDEs and PTEs", () => {
    const { log, oracleLog } = runProbes(nonPaeMachine(), NONPAE, NONPAE_PROBES, {
      paePdpte: false,
      varyPse: true,
      varyNxe: false,
      memBytes: MEM_BYTES,
    });
    countCombinations("i386 reserved-bit probes", log.total);
    expect(oracleLog.summary()).toEqual(EMPTY);
    expect(log.summary()).toEqual(EMPTY);
  });
});

// -------------------------------------------------------------------------------------------
describe("i386 PAE: PDE x PTE x controls x access (exhaustive)", () => {
  for (const mode of PRIME_MODES)
    for (const c0 of boolVectors(["wp", "nxe", "smep"] as const)) {
      const c: OracleControl = { ...c0, pse: false };
      it(`all PDE/PTE flag vectors, ${describeControl(c)}${mode.name}`, () => {
        const m = paeMachine();
        const cpu = m.cpus[0]!;
        // Load the PDPTE registers from a valid PDPTE once; the harness rewrites the same value.
        const pdpte = buildWalk(PAE, [PDPTE_OK])[0] as RawEntry;
        m.memory.zeroRange(0x100000, 0x1000);
        m.memory.write64(PAE.cr3 + 3 * 8, pdpte.lo, pdpte.hi);
        setControls(cpu, c, PAE.cr3);
        const ctx = ctxFor(m, PAE, c);
        const log = new MismatchLog();
        for (const pde of boolVectors(PDE_PAE)) {
          for (const pte of boolVectors(PTE_PAE)) {
            const entries = buildWalk(PAE, [PDPTE_OK, pde, pte]);
            const label = () => `${describeFlags("pde", pde)} ${describeFlags("pte", pte)}`;
            for (const access of ACCESSES) log.add(runCase(ctx, { entries, access, label, prime: mode.prime(access) }));
          }
        }
        countCombinations(`i386-pae main${mode.name}`, log.total);
        expect(log.total).toBe(128 * 64 * 6);
        expect(log.summary()).toEqual(EMPTY);
      });
    }
});

describe("i386 PAE: reserved and ignored bits in PDEs and PTEs", () => {
  it("one bit at a time in PDEs (4 KiB and 2 MiB) and PTEs", () => {
    const { log, oracleLog } = runProbes(paeMachine(), PAE, PAE_PROBES, {
      paePdpte: true,
      varyPse: true,
      varyNxe: true,
      memBytes: MEM_BYTES,
    });
    countCombinations("i386-pae reserved-bit probes", log.total);
    expect(oracleLog.summary()).toEqual(EMPTY);
    expect(log.summary()).toEqual(EMPTY);
  });
});

describe("i386 PAE: PDPTE registers", () => {
  const PDPTE_RESERVED = [1, 2, 5, 6, 7, 8, ...range(36, 63)];
  const PDPTE_IGNORED = [3, 4, 9, 10, 11];

  it("a present PDPTE with a reserved bit makes the CR3 load raise #GP (vector 13); ignored bits load", () => {
    const m = paeMachine();
    const cpu = m.cpus[0]!;
    const problems: string[] = [];
    let total = 0;
    for (const slot of [0, 1, 2, 3]) {
      for (const bit of [...PDPTE_RESERVED, ...PDPTE_IGNORED]) {
        for (const p of [true, false]) {
          total++;
          const e = buildWalk(PAE, [{ p }], [bit64(bit)])[0] as RawEntry;
          const wantGp = paePdpteLoadFaults([e]);
          const tableGp = p && PDPTE_RESERVED.includes(bit);
          if (wantGp !== tableGp) problems.push(`ORACLE disagrees with table: slot ${slot} bit ${bit} P=${p}`);
          m.memory.zeroRange(0x100000, 0x1000);
          m.memory.write64(PAE.cr3 + slot * 8, e.lo, e.hi);
          let err: unknown;
          try {
            setControls(cpu, { wp: true, pse: false, nxe: true, smep: false }, PAE.cr3);
          } catch (x) {
            err = x;
          }
          const vec = (err as { vector?: unknown } | undefined)?.vector;
          const tag = `PDPTE[${slot}] P=${p ? 1 : 0} bit ${bit} (${describeEntry(e)})`;
          if (tableGp && err === undefined) problems.push(`${tag}: CR3 load did not raise #GP`);
          if (tableGp && err !== undefined && vec !== 13)
            problems.push(`${tag}: raised vector ${String(vec)}, want 13`);
          if (!tableGp && err !== undefined) problems.push(`${tag}: CR3 load threw ${String(err)}`);
          // PDPTE memory is never written by the CPU.
          const [lo, hi] = m.memory.read64(PAE.cr3 + slot * 8);
          if (lo !== e.lo || hi !== e.hi)
            problems.push(`${tag}: PDPTE memory changed to ${hex(hi ?? 0)}_${hex(lo ?? 0)}`);
        }
      }
    }
    m.memory.zeroRange(0x100000, 0x1000);
    countCombinations("i386-pae PDPTE load probes", total);
    expect({ mismatches: problems.length, first: problems.slice(0, 20) }).toEqual(EMPTY);
  });

  it("walks through PDPTEs with ignored bits, and non-present PDPTEs #PF with P=0 (never #GP)", () => {
    const m = paeMachine();
    const log = new MismatchLog();
    for (const c0 of boolVectors(["wp", "nxe", "smep"] as const)) {
      const c: OracleControl = { ...c0, pse: false };
      setControls(m.cpus[0]!, c);
      // reloadCr3: the harness writes the PDPTE, then loads CR3, then translates.
      const ctx = ctxFor(m, PAE, c, true);
      for (const bit of [0, ...PDPTE_IGNORED, 1, 5, 36, 63]) {
        for (const p of [true, false]) {
          for (const pde of [
            { p: true, rw: true, us: true },
            { p: true, rw: false, us: false, nx: true },
          ] as EntryFlags[]) {
            const entries = buildWalk(
              PAE,
              [{ p }, pde, { p: true, rw: true, us: true }],
              [bit ? bit64(bit) : undefined],
            );
            const label = () => `pdpte=${describeEntry(entries[0]!)} ${describeFlags("pde", pde)}`;
            for (const access of ACCESSES) log.add(runCase(ctx, { entries, access, label }));
          }
        }
      }
    }
    countCombinations("i386-pae PDPTE walk probes", log.total);
    expect(log.summary()).toEqual(EMPTY);
  });

  it("PDPTE memory edits take effect only at the next CR3 load (not at invlpg / flushTlb)", () => {
    const m = paeMachine();
    const cpu = m.cpus[0]!;
    const mem = m.memory;
    const c: OracleControl = { wp: true, pse: false, nxe: true, smep: false };
    const [pdpte, pde, pte] = buildWalk(PAE, [
      { p: true },
      { p: true, rw: true, us: true },
      { p: true, rw: true, us: true },
    ]) as [RawEntry, RawEntry, RawEntry];
    const slotAt = PAE.cr3 + 3 * 8;
    const pdeAt = 0x102000 + 0x91 * 8;
    const pteAt = 0x103000 + 0x145 * 8;
    const read = { access: "read", user: false } as const;
    const okPa = 0x800678;
    const npFault = { fault: { vector: 14, errorCode: 0, va: PAE.va } };
    mem.zeroRange(0x100000, 0x4000);
    mem.write64(pdeAt, pde.lo, pde.hi);
    mem.write64(pteAt, pte.lo, pte.hi);
    const steps: { what: string; got: unknown; want: unknown }[] = [];
    const step = (what: string, want: unknown) => {
      let got: unknown;
      try {
        got = cpu.translate(PAE.va, read);
      } catch (e) {
        got = `threw ${String(e)}`;
      }
      steps.push({ what, got, want });
    };

    // 1. Present PDPTE loaded, then removed from memory: still translates.
    mem.write64(slotAt, pdpte.lo, pdpte.hi);
    setControls(cpu, c, PAE.cr3);
    cpu.flushTlb();
    step("loaded present PDPTE", { pa: okPa });
    mem.write64(slotAt, 0, 0);
    cpu.flushTlb();
    step("PDPTE cleared in memory, flushTlb, no CR3 load", { pa: okPa });
    cpu.invlpg(PAE.va);
    step("PDPTE cleared in memory, invlpg, no CR3 load", { pa: okPa });
    setControls(cpu, c, PAE.cr3);
    cpu.flushTlb();
    step("after CR3 reload", npFault);

    // 2. Not-present PDPTE loaded, then made present in memory: still faults until reload.
    mem.write64(slotAt, pdpte.lo, pdpte.hi);
    cpu.flushTlb();
    step("PDPTE made present in memory, flushTlb, no CR3 load", npFault);
    cpu.invlpg(PAE.va);
    step("PDPTE made present in memory, invlpg, no CR3 load", npFault);
    setControls(cpu, c, PAE.cr3);
    step("after CR3 reload", { pa: okPa });

    // 3. Redirecting the PDPTE to another PD takes effect only at the CR3 load.
    const otherPd = 0x104000;
    const otherPt = 0x105000;
    mem.zeroRange(otherPd, 0x2000);
    mem.write64(otherPd + 0x91 * 8, (otherPt | 7) >>> 0, 0);
    mem.write64(otherPt + 0x145 * 8, (0x900000 | 7) >>> 0, 0);
    mem.write64(slotAt, (otherPd | 1) >>> 0, 0);
    cpu.flushTlb();
    step("PDPTE redirected in memory, no CR3 load", { pa: okPa });
    setControls(cpu, c, PAE.cr3);
    step("PDPTE redirected, after CR3 reload", { pa: 0x900678 });

    // 4. Nothing written back into the PDPTE.
    const [lo, hi] = mem.read64(slotAt);
    steps.push({ what: "PDPTE memory after walks", got: [lo, hi], want: [(otherPd | 1) >>> 0, 0] });
    mem.zeroRange(0x100000, 0x6000);
    expect(steps.filter((s) => JSON.stringify(s.got) !== JSON.stringify(s.want))).toEqual([]);
  });

  it("a CR3 load that raises #GP leaves the previously loaded PDPTEs in use", () => {
    // SDM: a faulting MOV to CR3 does not complete; nothing is loaded.
    const m = paeMachine();
    const cpu = m.cpus[0]!;
    const mem = m.memory;
    const c: OracleControl = { wp: true, pse: false, nxe: true, smep: false };
    mem.zeroRange(0x100000, 0x6000);
    const [pdpte, pde, pte] = buildWalk(PAE, [
      { p: true },
      { p: true, rw: true, us: true },
      { p: true, rw: true, us: true },
    ]) as [RawEntry, RawEntry, RawEntry];
    mem.write64(PAE.cr3 + 3 * 8, pdpte.lo, pdpte.hi);
    mem.write64(0x102000 + 0x91 * 8, pde.lo, pde.hi);
    mem.write64(0x103000 + 0x145 * 8, pte.lo, pte.hi);
    setControls(cpu, c, PAE.cr3);
    // A second PDPT whose slot 0 is present with reserved bit 1.
    const badPdpt = 0x104000;
    mem.write64(badPdpt, (0x102000 | 1 | 2) >>> 0, 0);
    let err: unknown;
    try {
      cpu.setControl({ cr3: badPdpt });
    } catch (e) {
      err = e;
    }
    expect((err as { vector?: unknown } | undefined)?.vector).toBe(13);
    cpu.flushTlb();
    expect(cpu.translate(PAE.va, { access: "read", user: true })).toEqual({ pa: 0x800678 });
    mem.zeroRange(0x100000, 0x6000);
  });
});
