/**
 * `vmlab demo` (what `pnpm start` runs until the benchmark exists): boot each of the three
 * machines bare, hand-build a page-table tree in its own format, and show the MMU at work —
 * translations, a page fault with its error code, Accessed/Dirty write-back, a stale TLB entry
 * surviving a PTE change until INVLPG, and a TLB shootdown by IPI on a second CPU.
 */
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import { type MachineSpec, mapLinear, PG_A, PG_M } from "@vmlab/machine";

export interface DemoRow {
  machine: string;
  /** Physical address a user load at the demo VA translated to. */
  translatedPa: number;
  /** Error code of a user write to an unmapped page. */
  faultErrorCode: number;
  /** Leaf PTE had A and D set by the hardware after a write. */
  accessedDirty: boolean;
  /** Value read through a stale TLB entry after the PTE was pointed elsewhere (no INVLPG). */
  staleRead: number;
  /** Value read after INVLPG. */
  freshRead: number;
  /** CPU 1 still read the stale frame before the shootdown, the new one after. */
  shootdown: { before: number; after: number };
  stats: Record<string, number>;
}

const VA = 0x0800_0000;
const PA = 0x0040_0000;
const OTHER_PA = 0x0050_0000;
const TABLES = 0x0010_0000;

/** Find the leaf PTE of `va` by walking the machine's format from `root` (inspection only). */
function leafPte(spec: MachineSpec, mem: { read32(pa: number): number }, root: number, va: number): number {
  const f = spec.format;
  let table = root;
  if (f.pdpteRegisters) table = mem.read32(root + ((va >>> 30) & 3) * 8) & 0xffff_f000;
  for (let li = 0; li < f.levels.length; li++) {
    const lv = f.levels[li]!;
    const ea = table + (Math.floor(va / 2 ** lv.shift) % 2 ** lv.indexBits) * f.entryBytes;
    if (li === f.levels.length - 1) return ea;
    table = mem.read32(ea) & 0xffff_f000;
  }
  throw new Error("no leaf level");
}

export function runDemo(): DemoRow[] {
  const rows: DemoRow[] = [];
  for (const spec of [i386({ cpus: 2 }), i386Pae({ cpus: 2 }), amd64({ cpus: 2 })]) {
    const m = spec.boot();
    const region = mapLinear(m, VA, PA, 4, TABLES);
    const [cpu0, cpu1] = [m.cpu(0), m.cpu(1)];
    const mem = m.memory;
    mem.write32(PA, 0x1111_1111);
    mem.write32(OTHER_PA, 0x2222_2222);

    const t = cpu0.translate(VA + 0x10, { access: "read", user: true });
    const translatedPa = "pa" in t ? t.pa : -1;
    const f = cpu0.translate(VA + 0x10_0000, { access: "write", user: true });
    const faultErrorCode = "fault" in f ? f.fault.errorCode : -1;

    cpu0.store32(VA + 4, 7, true);
    const pte = leafPte(spec, mem, region.root, VA);
    const accessedDirty = (mem.read32(pte) & (PG_A | PG_M)) === (PG_A | PG_M);

    // Both CPUs cache the translation, then the PTE is repointed without invalidation.
    cpu1.load32(VA, true);
    cpu0.load32(VA, true);
    mem.write32(pte, (mem.read32(pte) & 0xfff) | OTHER_PA);
    const staleRead = cpu0.load32(VA, true);
    cpu0.invlpg(VA);
    const freshRead = cpu0.load32(VA, true);
    const before = cpu1.load32(VA, true);
    m.ipi(cpu0, cpu1, (c) => c.invlpg(VA));
    const after = cpu1.load32(VA, true);

    rows.push({
      machine: spec.name,
      translatedPa,
      faultErrorCode,
      accessedDirty,
      staleRead,
      freshRead,
      shootdown: { before, after },
      stats: m.stats(),
    });
  }
  return rows;
}
