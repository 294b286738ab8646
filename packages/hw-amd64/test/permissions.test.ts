/**
 * Exhaustive permission / translation tests for amd64 4-level paging, comparing the MMU with
 * the independent SDM oracle (packages/machine/test/support/sdm-oracle.ts).
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
import type { OracleControl } from "../../machine/test/support/sdm-oracle.js";
import { amd64 } from "../src/index.js";

const MEM_MIB = 16;
const MEM_BYTES = MEM_MIB * 1024 * 1024;
const EMPTY = { mismatches: 0, first: [] as string[] };

/** A 48-bit VA from its four table indices and page offset. */
function va48(pml4: number, pdpt: number, pd: number, pt: number, off: number): number {
  return pml4 * 2 ** 39 + pdpt * 2 ** 30 + pd * 2 ** 21 + pt * 2 ** 12 + off;
}

const TABLES = [0x100000, 0x101000, 0x102000, 0x103000] as const;

// Upper half (0xffffd1fc00a34567 in canonical form). A 1 GiB page at PA 0 maps this VA to
// 0xa34567, a 2 MiB page at 8 MiB to 0x834567, a 4 KiB page at 8 MiB to 0x800567.
const UPPER: Layout = {
  format: "amd64",
  cr3: TABLES[0],
  tables: TABLES,
  largeFrames: { 1: 0, 2: 0x800000 },
  frame: 0x800000,
  va: va48(0x1a3, 0x1f0, 5, 0x34, 0x567),
};
// Lower half, same lower indices.
const LOWER: Layout = { ...UPPER, va: va48(0x0a3, 0x1f0, 5, 0x34, 0x567) };

let machine: MachineLike | undefined;
function amd64Machine(): MachineLike {
  machine ??= amd64({ memoryMiB: MEM_MIB, cpus: 1 }).boot();
  return machine;
}

function ctxFor(layout: Layout, control: OracleControl): RunContext {
  return { machine: amd64Machine(), format: "amd64", cr3: layout.cr3, va: layout.va, control, memBytes: MEM_BYTES };
}

afterAll(() => {
  for (const [k, v] of combinationCounter) console.log(`[permissions] ${k}: ${v} combinations`);
});

const FULL: EntryFlags = { p: true, rw: true, us: true };

describe("amd64: PDE x PTE x controls x access (exhaustive)", () => {
  const PDE = ["p", "rw", "us", "a", "d", "nx", "ps"] as const;
  const PTE = ["p", "rw", "us", "a", "d", "nx"] as const;
  for (const mode of PRIME_MODES)
    for (const c0 of boolVectors(["wp", "nxe", "smep"] as const)) {
      const c: OracleControl = { ...c0, pse: false };
      it(`all PDE/PTE flag vectors, ${describeControl(c)}${mode.name}`, () => {
        const m = amd64Machine();
        setControls(m.cpus[0]!, c, UPPER.cr3);
        const ctx = ctxFor(UPPER, c);
        const log = new MismatchLog();
        for (const pde of boolVectors(PDE)) {
          for (const pte of boolVectors(PTE)) {
            // PML4E and PDPTE: P|RW|US with A clear (A must be set on success).
            const entries = buildWalk(UPPER, [FULL, FULL, pde, pte]);
            const label = () => `${describeFlags("pde", pde)} ${describeFlags("pte", pte)}`;
            for (const access of ACCESSES) log.add(runCase(ctx, { entries, access, label, prime: mode.prime(access) }));
          }
        }
        countCombinations(`amd64 main (PDE x PTE)${mode.name}`, log.total);
        expect(log.total).toBe(128 * 64 * 6);
        expect(log.summary()).toEqual(EMPTY);
      });
    }
});

describe("amd64: PML4E x PDPTE (incl. 1 GiB pages) x PDE x controls x access", () => {
  const PML4E = ["rw", "us", "nx", "a"] as const;
  const PDPTE = ["rw", "us", "nx", "a", "d", "ps"] as const;
  const PDE = ["rw", "us", "ps"] as const;
  for (const mode of PRIME_MODES.slice(0, 2))
    for (const c0 of boolVectors(["wp", "nxe", "smep"] as const)) {
      const c: OracleControl = { ...c0, pse: false };
      it(`upper-level rights, ${describeControl(c)}${mode.name}`, () => {
        const m = amd64Machine();
        setControls(m.cpus[0]!, c, LOWER.cr3);
        const ctx = ctxFor(LOWER, c);
        const log = new MismatchLog();
        for (const l4 of boolVectors(PML4E)) {
          for (const l3 of boolVectors(PDPTE)) {
            for (const l2 of boolVectors(PDE)) {
              // Below a 1 GiB page the PDE is not consulted: one PDE value is enough.
              if (l3.ps && (l2.rw || l2.us || l2.ps)) continue;
              const flags: EntryFlags[] = [
                { ...l4, p: true },
                { ...l3, p: true },
                { ...l2, p: true },
                { p: true, rw: true, us: true },
              ];
              const entries = buildWalk(LOWER, flags);
              const label = () =>
                `${describeFlags("pml4e", flags[0]!)} ${describeFlags("pdpte", flags[1]!)} ${describeFlags("pde", flags[2]!)} ${describeFlags("pte", flags[3]!)}`;
              for (const access of ACCESSES)
                log.add(runCase(ctx, { entries, access, label, prime: mode.prime(access) }));
            }
          }
        }
        countCombinations(`amd64 upper levels${mode.name}`, log.total);
        expect(log.total).toBe(16 * (32 * 8 + 32) * 6);
        expect(log.summary()).toEqual(EMPTY);
      });
    }
});

describe("amd64: present / user bits at every level", () => {
  it("P x U/S at PML4E, PDPTE, PDE, PTE (not-present below a supervisor entry reports P=0)", () => {
    const m = amd64Machine();
    const log = new MismatchLog();
    for (const c0 of boolVectors(["nxe", "smep"] as const)) {
      const c: OracleControl = { ...c0, wp: true, pse: false };
      setControls(m.cpus[0]!, c, UPPER.cr3);
      const ctx = ctxFor(UPPER, c);
      for (const p of boolVectors(["l4", "l3", "l2", "l1"] as const)) {
        for (const u of boolVectors(["l4", "l3", "l2", "l1"] as const)) {
          const flags: EntryFlags[] = [
            { p: p.l4, us: u.l4, rw: true },
            { p: p.l3, us: u.l3, rw: true },
            { p: p.l2, us: u.l2, rw: true },
            { p: p.l1, us: u.l1, rw: true },
          ];
          const entries = buildWalk(UPPER, flags);
          const label = () => flags.map((f, i) => describeFlags(["pml4e", "pdpte", "pde", "pte"][i]!, f)).join(" ");
          for (const access of ACCESSES) log.add(runCase(ctx, { entries, access, label }));
        }
      }
    }
    countCombinations("amd64 P x U/S", log.total);
    expect(log.summary()).toEqual(EMPTY);
  });
});

const nxeOff = (c: OracleControl) => !c.nxe;
const yes = () => true;
const no = () => false;

/** Reserved and ignored bits per level, from the SDM IA-32e entry formats (MAXPHYADDR 40, no PKU). */
const PROBES: BitProbe[] = [
  // PML4E: 51:40 reserved, 63 without NXE, PS (7) reserved; 62:52, 11:8 (G ignored on Intel), 6 ignored.
  ...range(40, 51).map((bit) => ({ level: 0, large: false, bit, reserved: yes })),
  { level: 0, large: false, bit: 63, reserved: nxeOff },
  { level: 0, large: false, bit: 7, reserved: yes },
  ...[3, 4, 6, 8, 9, 10, 11, ...range(52, 62)].map((bit) => ({ level: 0, large: false, bit, reserved: no })),
  // PDPTE -> PD
  ...range(40, 51).map((bit) => ({ level: 1, large: false, bit, reserved: yes })),
  { level: 1, large: false, bit: 63, reserved: nxeOff },
  ...[3, 4, 6, 8, 9, 10, 11, ...range(52, 62)].map((bit) => ({ level: 1, large: false, bit, reserved: no })),
  // 1 GiB PDPTE: 29:13 reserved too; 12 is PAT.
  ...range(13, 29).map((bit) => ({ level: 1, large: true, bit, reserved: yes })),
  ...range(40, 51).map((bit) => ({ level: 1, large: true, bit, reserved: yes })),
  { level: 1, large: true, bit: 63, reserved: nxeOff },
  ...[3, 4, 8, 9, 10, 11, 12, ...range(52, 62)].map((bit) => ({ level: 1, large: true, bit, reserved: no })),
  // PDE -> PT
  ...range(40, 51).map((bit) => ({ level: 2, large: false, bit, reserved: yes })),
  { level: 2, large: false, bit: 63, reserved: nxeOff },
  ...[3, 4, 6, 8, 9, 10, 11, ...range(52, 62)].map((bit) => ({ level: 2, large: false, bit, reserved: no })),
  // 2 MiB PDE: 20:13 reserved too; 12 is PAT.
  ...range(13, 20).map((bit) => ({ level: 2, large: true, bit, reserved: yes })),
  ...range(40, 51).map((bit) => ({ level: 2, large: true, bit, reserved: yes })),
  { level: 2, large: true, bit: 63, reserved: nxeOff },
  ...[3, 4, 8, 9, 10, 11, 12, ...range(52, 62)].map((bit) => ({ level: 2, large: true, bit, reserved: no })),
  // PTE: 51:40 reserved, 63 without NXE; 7 (PAT), 8 (G), 62:52 fine.
  ...range(40, 51).map((bit) => ({ level: 3, large: false, bit, reserved: yes })),
  { level: 3, large: false, bit: 63, reserved: nxeOff },
  ...[3, 4, 7, 8, 9, 10, 11, ...range(52, 62)].map((bit) => ({ level: 3, large: false, bit, reserved: no })),
];

describe("amd64: reserved and ignored bits", () => {
  it("one bit at a time at every level (incl. 1 GiB and 2 MiB leaves)", () => {
    const { log, oracleLog } = runProbes(amd64Machine(), UPPER, PROBES, {
      paePdpte: false,
      varyPse: true,
      varyNxe: true,
      memBytes: MEM_BYTES,
    });
    countCombinations("amd64 reserved-bit probes", log.total);
    expect(oracleLog.summary()).toEqual(EMPTY);
    expect(log.summary()).toEqual(EMPTY);
  });
});
