/**
 * A bare-machine fixture for demos, benchmarks and hardware tests: map `pages` consecutive 4 KiB
 * user pages at `va` with present, writable, user PTEs in the machine's own paging format.
 * Bootstrap-style direct physical writes, as a boot loader would make them; no pmap uses this.
 */
import { PG_A, PG_RW, PG_U, PG_V } from "./format.js";
import type { Machine } from "./machine.js";

export interface MappedRegion {
  /** Physical address of the top-level table (what CR3 holds). */
  readonly root: number;
  readonly va: number;
  readonly pa: number;
  readonly pages: number;
}

/** Build a minimal page-table tree for [va, va + pages*4096) → [pa, ...) and load CR3 on every CPU. */
export function mapLinear(m: Machine, va: number, pa: number, pages: number, tablesAt: number): MappedRegion {
  const f = m.format;
  const mem = m.memory;
  const e = f.entryBytes;
  let next = tablesAt;
  const newTable = () => {
    const t = next;
    next += 4096;
    mem.zeroRange(t, 4096);
    return t;
  };
  const write = (ea: number, v: number) =>
    e === 8 ? mem.write64(ea, (v % 2 ** 32) >>> 0, Math.floor(v / 2 ** 32)) : mem.write32(ea, v);
  const read = (ea: number) => (e === 8 ? mem.read32(ea) + (mem.read32(ea + 4) & 0xff) * 2 ** 32 : mem.read32(ea));
  const bits = PG_V | PG_RW | PG_U | PG_A;
  const root = newTable();
  for (let i = 0; i < pages; i++) {
    const v = va + i * 4096;
    let table = root;
    if (f.pdpteRegisters) {
      const ea = root + ((v >>> 30) & 3) * 8;
      if ((mem.read32(ea) & PG_V) === 0) write(ea, newTable() + PG_V);
      table = read(ea) - (read(ea) % 4096);
    }
    f.levels.forEach((lv, li) => {
      const idx = Math.floor(v / 2 ** lv.shift) % 2 ** lv.indexBits;
      const ea = table + idx * e;
      if (li === f.levels.length - 1) {
        write(ea, pa + i * 4096 + bits);
        return;
      }
      if ((mem.read32(ea) & PG_V) === 0) write(ea, newTable() + bits);
      const cur = read(ea);
      table = cur - (cur % 4096);
    });
  }
  for (const c of m.cpus) c.setControl({ cr3: root });
  return { root, va, pa, pages };
}
