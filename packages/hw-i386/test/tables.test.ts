/**
 * leafMappings (machine/src/tables.ts) on the two i386 formats: every present leaf of a tree built
 * by mapLinear and by hand (4 MiB PSE pages, 2 MiB PAE pages, read-only, supervisor, NX), checked
 * against the MMU's own translate, and read without side effects (no Accessed bits set).
 */
import { leafMappings, type Machine, mapLinear, PG_NX_HI, PG_PS, PG_RW, PG_U, PG_V } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { i386, i386Pae } from "../src/index.js";

const MiB = 2 ** 20;

/** Every page of every leaf translates, for a user read, to the frame the leaf names. */
function agreeWithMmu(m: Machine, cr3: number, pse: boolean): number {
  const cpu = m.cpus[0];
  if (cpu === undefined) throw new Error("no cpu");
  let pages = 0;
  for (const l of leafMappings(m.memory, m.format, cr3, { pse })) {
    for (let off = 0; off < l.size; off += 4096) {
      const r = cpu.translate(l.va + off, { access: "read", user: false });
      expect(r).toEqual({ pa: l.pa + off });
      pages++;
    }
  }
  return pages;
}

describe.each([
  ["i386", i386],
  ["i386-pae", i386Pae],
])("leafMappings on %s", (_name, factory) => {
  it("lists exactly the pages mapLinear mapped, in address order, across a table boundary", () => {
    const m = factory({ memoryMiB: 16 }).boot();
    // 20 pages straddling a 4 MiB (and 2 MiB) boundary, and a second region in another PDPTE slot.
    const a = mapLinear(m, 4 * MiB - 10 * 4096, 2 * MiB, 20, 8 * MiB);
    const leaves = [...leafMappings(m.memory, m.format, a.root)];
    expect(leaves).toHaveLength(20);
    leaves.forEach((l, i) => {
      expect(l).toEqual({
        va: 4 * MiB - 10 * 4096 + i * 4096,
        pa: 2 * MiB + i * 4096,
        size: 4096,
        writable: true,
        user: true,
        noExec: false,
        global: false,
        avl: 0,
      });
    });
    expect(agreeWithMmu(m, a.root, true)).toBe(20);
  });

  it("honours the range: subtrees outside [start, end) are not reported", () => {
    const m = factory({ memoryMiB: 16 }).boot();
    const a = mapLinear(m, 0x40_0000, 0x20_0000, 16, 8 * MiB);
    const some = [...leafMappings(m.memory, m.format, a.root, { start: 0x40_4000, end: 0x40_6000 })];
    expect(some.map((l) => l.va)).toEqual([0x40_4000, 0x40_5000]);
  });

  it("reads without side effects: no Accessed bit is set by the enumeration", () => {
    const m = factory({ memoryMiB: 16 }).boot();
    const a = mapLinear(m, 0x1000, 0x10_0000, 4, 8 * MiB);
    const before = m.memory.readBytes(8 * MiB, 4 * 4096);
    [...leafMappings(m.memory, m.format, a.root)];
    expect(m.memory.readBytes(8 * MiB, 4 * 4096)).toEqual(before);
  });
});

describe("large pages and rights", () => {
  it("32-bit paging: a 4 MiB PSE page is one leaf with PSE, a pointer to a table without it", () => {
    const m = i386({ memoryMiB: 16 }).boot();
    const a = mapLinear(m, 0x1000, 0x10_0000, 2, 8 * MiB);
    // PDE 2 (VA 8 MiB) maps the 4 MiB frame at 4 MiB, supervisor, read-only, global, with the
    // software bit 9 (a pmap's PG_W) set: reported as the leaf's AVL bits, ignored by the MMU.
    m.memory.write32(a.root + 2 * 4, (4 * MiB) | PG_V | PG_PS | 0x100 | 0x200);
    for (const c of m.cpus) c.setControl({ pse: true });
    const leaves = [...leafMappings(m.memory, m.format, a.root)];
    expect(leaves.at(-1)).toEqual({
      va: 8 * MiB,
      pa: 4 * MiB,
      size: 4 * MiB,
      writable: false,
      user: false,
      noExec: false,
      global: true,
      avl: 0x200,
    });
    expect(agreeWithMmu(m, a.root, true)).toBe(2 + 1024);
    // Without PSE the PDE names a page table (the frame at 4 MiB, here zero: no leaves).
    expect([...leafMappings(m.memory, m.format, a.root, { pse: false })]).toHaveLength(2);
  });

  it("PAE: a 2 MiB page, NX at the leaf, and read-only / supervisor combined across levels", () => {
    const m = i386Pae({ memoryMiB: 16 }).boot();
    const a = mapLinear(m, 0x1000, 0x10_0000, 3, 8 * MiB);
    for (const c of m.cpus) c.setControl({ nxe: true });
    const pdpte0 = m.memory.read32(a.root);
    const pd = pdpte0 & 0xffff_f000;
    // PDE 1 (VA 2 MiB): a 2 MiB page at 4 MiB, writable, user, no-execute.
    m.memory.write64(pd + 8, (4 * MiB) | PG_V | PG_PS | PG_RW | PG_U, PG_NX_HI);
    // The PTE for VA 0x2000: clear R/W.
    const pt = m.memory.read32(pd) & 0xffff_f000;
    m.memory.write64(pt + 2 * 8, 0x10_1000 | PG_V | PG_U, 0);
    const leaves = [...leafMappings(m.memory, m.format, a.root)];
    expect(leaves.map((l) => [l.va, l.size, l.writable, l.user, l.noExec])).toEqual([
      [0x1000, 4096, true, true, false],
      [0x2000, 4096, false, true, false],
      [0x3000, 4096, true, true, false],
      [2 * MiB, 2 * MiB, true, true, true],
    ]);
    expect(agreeWithMmu(m, a.root, true)).toBe(3 + 512);
    // Without EFER.NXE bit 63 is reserved: the 2 MiB page does not translate and is not listed.
    expect([...leafMappings(m.memory, m.format, a.root, { nxe: false })]).toHaveLength(3);
  });

  it("PAE: the PDPT is read at CR3's 32-byte-aligned address", () => {
    const m = i386Pae({ memoryMiB: 16 }).boot();
    const a = mapLinear(m, 0x1000, 0x10_0000, 1, 8 * MiB);
    // Copy the 4 PDPTEs to a 32-byte-aligned spot inside another page and point CR3 there.
    const pdpt = 9 * MiB + 0x60;
    for (let i = 0; i < 4; i++) {
      const [lo, hi] = m.memory.read64(a.root + i * 8);
      m.memory.write64(pdpt + i * 8, lo, hi);
    }
    for (const c of m.cpus) c.setControl({ cr3: pdpt });
    expect([...leafMappings(m.memory, m.format, pdpt)].map((l) => l.va)).toEqual([0x1000]);
    expect(agreeWithMmu(m, pdpt, true)).toBe(1);
  });
});
