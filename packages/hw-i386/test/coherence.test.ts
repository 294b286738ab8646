/** The machine's TLB-coherence audit on both i386 formats: it catches each kind of missing invalidation. */
import { InvariantViolation } from "@vmlab/core";
import { type Machine, mapLinear, PG_M, PG_RW } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { i386, i386Pae } from "../src/index.js";

const VA = 0x40_0000;
const PA = 0x20_0000;

/** The last-level page table mapLinear builds for one page: its tables are allocated in order. */
function pteOf(m: Machine, tablesAt: number): number {
  const tables = m.format.levels.length + (m.format.pdpteRegisters ? 1 : 0);
  // VA is 4 MiB-aligned, so its PTE is entry 0 of the last table.
  return tablesAt + (tables - 1) * 4096;
}

function violation(m: Machine): string {
  try {
    m.audit();
  } catch (e) {
    if (e instanceof InvariantViolation) return e.message;
    throw e;
  }
  return "";
}

describe.each([
  ["i386", i386],
  ["i386-pae", i386Pae],
])("TLB coherence audit on %s", (_name, spec) => {
  function setup(): { m: Machine; pte: number } {
    const m = spec({ memoryMiB: 8 }).boot();
    const tablesAt = 0x10_0000;
    const r = mapLinear(m, VA, PA, 1, tablesAt);
    const cpu = m.cpus[0];
    if (!cpu) throw new Error("no cpu");
    cpu.setControl({ cr3: r.root, wp: true });
    expect(cpu.store32(VA, 1, true)).toBe(true);
    return { m, pte: pteOf(m, tablesAt) };
  }

  it("is clean while the TLB agrees with the tables", () => {
    const { m } = setup();
    expect(violation(m)).toBe("");
  });

  it("catches an unmapped page still in a TLB, until invlpg", () => {
    const { m, pte } = setup();
    m.memory.write32(pte, 0);
    expect(violation(m)).toMatch(/no longer map/);
    m.cpus[0]?.invlpg(VA);
    expect(violation(m)).toBe("");
  });

  it("catches a write-protected page still writable in a TLB", () => {
    const { m, pte } = setup();
    m.memory.write32(pte, m.memory.read32(pte) & ~PG_RW);
    expect(violation(m)).toMatch(/writable in the TLB/);
  });

  it("leaves a dirty entry over a clean PTE to the pmap (it may have recorded the modification)", () => {
    const { m, pte } = setup();
    m.memory.write32(pte, m.memory.read32(pte) & ~PG_M);
    expect(violation(m)).toBe("");
  });

  it("catches a page remapped to another frame", () => {
    const { m, pte } = setup();
    m.memory.write32(pte, (m.memory.read32(pte) & 0xfff) | (PA + 0x1000));
    expect(violation(m)).toMatch(/map it to 0x201000/);
  });
});
