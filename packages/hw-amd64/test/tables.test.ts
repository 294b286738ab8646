/**
 * leafMappings (machine/src/tables.ts) on 4-level paging: 4 KiB pages from mapLinear, 2 MiB and
 * 1 GiB pages, the upper half as 48-bit unsigned VAs, NX and rights combined across levels —
 * each leaf checked against the MMU's translate.
 */
import { leafMappings, type Machine, mapLinear, PG_NX_HI, PG_PS, PG_RW, PG_U, PG_V } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { amd64 } from "../src/index.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const UPPER = 0x8000_0000_0000;

function agreeWithMmu(m: Machine, cr3: number): number {
  const cpu = m.cpus[0];
  if (cpu === undefined) throw new Error("no cpu");
  let checked = 0;
  for (const l of leafMappings(m.memory, m.format, cr3)) {
    // First, last and a middle page of every leaf (a 1 GiB page has 262144).
    for (const off of new Set([0, Math.floor(l.size / 8192) * 4096, l.size - 4096])) {
      expect(cpu.translate(l.va + off, { access: "read", user: false })).toEqual({ pa: l.pa + off });
      checked++;
    }
  }
  return checked;
}

describe("leafMappings on amd64", () => {
  it("lists exactly the pages mapLinear mapped, across a page-directory boundary", () => {
    const m = amd64({ memoryMiB: 16 }).boot();
    const a = mapLinear(m, 2 * MiB - 4 * 4096, 0x10_0000, 8, 8 * MiB);
    const leaves = [...leafMappings(m.memory, m.format, a.root)];
    expect(leaves.map((l) => l.va)).toEqual(Array.from({ length: 8 }, (_, i) => 2 * MiB - 4 * 4096 + i * 4096));
    expect(leaves.every((l) => l.size === 4096 && l.writable && l.user && !l.noExec && !l.global)).toBe(true);
    expect(leaves.map((l) => l.pa)).toEqual(Array.from({ length: 8 }, (_, i) => 0x10_0000 + i * 4096));
    expect(agreeWithMmu(m, a.root)).toBe(8);
  });

  it("2 MiB and 1 GiB pages, upper-half VAs, NX at a middle level, supervisor-only", () => {
    const m = amd64({ memoryMiB: 16 }).boot();
    const va = UPPER + 5 * GiB; // PML4 slot 256, PDPT slot 5
    const a = mapLinear(m, va, 0x10_0000, 1, 8 * MiB);
    for (const c of m.cpus) c.setControl({ nxe: true });
    const pml4e = m.memory.read32(a.root + 256 * 8) & 0xffff_f000;
    // PDPT slot 7: a 1 GiB page at physical 0, supervisor, read-only, global, AVL bit 11 set.
    m.memory.write64(pml4e + 7 * 8, PG_V | PG_PS | 0x100 | 0x800, 0);
    // The PD under slot 5: entry 3 is a 2 MiB page at 4 MiB, user, writable.
    const pdpte5 = m.memory.read32(pml4e + 5 * 8);
    const pd = pdpte5 & 0xffff_f000;
    m.memory.write64(pd + 3 * 8, (4 * MiB) | PG_V | PG_PS | PG_RW | PG_U, 0);
    // NX on the PDPTE covering both.
    m.memory.write64(pml4e + 5 * 8, pdpte5, PG_NX_HI);
    const leaves = [...leafMappings(m.memory, m.format, a.root)];
    expect(leaves).toEqual([
      { va, pa: 0x10_0000, size: 4096, writable: true, user: true, noExec: true, global: false, avl: 0 },
      {
        va: va + 3 * 2 * MiB,
        pa: 4 * MiB,
        size: 2 * MiB,
        writable: true,
        user: true,
        noExec: true,
        global: false,
        avl: 0,
      },
      { va: UPPER + 7 * GiB, pa: 0, size: GiB, writable: false, user: false, noExec: false, global: true, avl: 0x800 },
    ]);
    expect(agreeWithMmu(m, a.root)).toBe(1 + 3 + 3);
    // A range limited to the user half reads nothing here.
    expect([...leafMappings(m.memory, m.format, a.root, { end: UPPER })]).toEqual([]);
  });
});
