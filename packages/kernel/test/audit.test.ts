/**
 * The kernel's cross-layer audit (src/audit.ts): a process's user PTEs against its VM map. Clean
 * systems pass after mmap, touch, fork, mprotect and munmap; each invariant is then broken by
 * writing one PTE directly in physical memory — a translation left outside the map, a writable
 * PTE in a read-only entry, an executable PTE where the entry has no Exec (NX machines), a frame
 * the VM does not manage, PG_W on a PTE of an unwired entry — and the audit names the rule, pid, va and pa. Where the pmap's own audit
 * (pv ↔ PTE counts) also notices the corruption and throws first, the cross-layer checks are run
 * on their own to show they catch it too.
 */
import { InvariantViolation, MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE, type VmSpace } from "@vmlab/core";
import { leafMappings, type Machine, PG_AVAIL1, PG_NX_HI, PG_RW } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import { auditUserMappings } from "../src/audit.js";
import type { Process, System } from "../src/index.js";
import type { Kernel } from "../src/kernel.js";
import { boot, MACHINES } from "./systems.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_ANON | MAP_PRIVATE;

function spaceOf(p: Process): VmSpace {
  return (p as unknown as { space: VmSpace }).space;
}

/** Physical address of the 4 KiB leaf entry for va under cr3 (the tables must exist). */
function pteAddr(m: Machine, cr3: number, va: number): number {
  const f = m.format;
  const mem = m.memory;
  const frame = (ea: number) => {
    const lo = mem.read32(ea) & 0xffff_f000;
    const hi = f.entryBytes === 8 ? mem.read32(ea + 4) & 0xff : 0;
    return hi * 2 ** 32 + (lo >>> 0);
  };
  let table = f.pdpteRegisters ? frame((cr3 & f.cr3Mask) + ((va >>> 30) & 3) * 8) : cr3 - (cr3 % 4096);
  for (const [i, lv] of f.levels.entries()) {
    const ea = table + (Math.floor(va / 2 ** lv.shift) % 2 ** lv.indexBits) * f.entryBytes;
    if (i === f.levels.length - 1) return ea;
    table = frame(ea);
  }
  throw new Error("no levels");
}

function violation(fn: () => unknown): InvariantViolation {
  try {
    fn();
  } catch (e) {
    if (e instanceof InvariantViolation) return e;
    throw e;
  }
  throw new Error("expected an InvariantViolation");
}

/** A process with `pages` touched anonymous pages; returns it, the address and its cr3. */
function touched(sys: System, pages: number) {
  const p = sys.spawn();
  const a = p.mmap(0, pages * PAGE_SIZE, RW, ANON, -1, 0);
  for (let i = 0; i < pages; i++) p.store32(a + i * PAGE_SIZE, i + 1);
  return { p, a, cr3: spaceOf(p).pmap.cr3 };
}

function flushAll(sys: System): void {
  for (const c of sys.machine.cpus) c.flushTlb();
}

describe.each(MACHINES)("cross-layer audit on %s (mach pmap, mach vm)", (name, machine) => {
  it("passes on a clean system and walks the user PTEs the process made", () => {
    const sys = boot(machine);
    const { p, a, cr3 } = touched(sys, 4);
    const user = [...leafMappings(sys.machine.memory, sys.machine.format, cr3, { end: sys.layout.userMax })].filter(
      (l) => l.user,
    );
    expect(user.map((l) => l.va)).toEqual([0, 1, 2, 3].map((i) => a + i * PAGE_SIZE));
    expect(sys.vm.entries(spaceOf(p))).toContainEqual(
      expect.objectContaining({ start: a, end: a + 4 * PAGE_SIZE, backing: "anon", shared: false, wired: false }),
    );
    const c = p.fork();
    c.store32(a, 9);
    p.mprotect(a, PAGE_SIZE, PROT_READ);
    p.munmap(a + 3 * PAGE_SIZE, PAGE_SIZE);
    sys.audit();
  });

  it("a valid user PTE outside every map entry is a violation naming pid, va and pa", () => {
    const sys = boot(machine);
    const { p, a, cr3 } = touched(sys, 4);
    const m = sys.machine;
    const from = pteAddr(m, cr3, a);
    const [lo, hi] = m.memory.read64(from);
    p.munmap(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE);
    const to = pteAddr(m, cr3, a + 3 * PAGE_SIZE);
    if (m.format.entryBytes === 8) m.memory.write64(to, lo, hi);
    else m.memory.write32(to, m.memory.read32(from));
    flushAll(sys);
    expect(() => sys.audit()).toThrow(InvariantViolation);
    const v = violation(() => auditUserMappings(sys as Kernel));
    expect(v.rule).toBe("user PTE in map entry");
    expect(v.details).toContain(`pid ${p.pid} va 0x${(a + 3 * PAGE_SIZE).toString(16)}`);
  });

  it("a wired PTE (PG_W) in an unwired entry is a violation; mlock'ed pages carry PG_W and pass", () => {
    const sys = boot(machine);
    const { p, a, cr3 } = touched(sys, 2);
    const pgW = (sys as unknown as Kernel).pmap.pteWiredBit as number;
    expect(pgW).toBe(PG_AVAIL1);
    p.mlock(a, PAGE_SIZE);
    sys.audit();
    const wired = [...leafMappings(sys.machine.memory, sys.machine.format, cr3, { start: a, end: a + 2 * PAGE_SIZE })];
    expect(wired.map((l) => (l.avl & pgW) !== 0)).toEqual([true, false]);
    const ea = pteAddr(sys.machine, cr3, a + PAGE_SIZE);
    sys.machine.memory.write32(ea, sys.machine.memory.read32(ea) | pgW);
    const v = violation(() => auditUserMappings(sys as unknown as Kernel));
    expect(v.rule).toBe("wired PTE in wired entry");
    expect(v.details).toContain(`pid ${p.pid} va 0x${(a + PAGE_SIZE).toString(16)}`);
  });

  it("a writable PTE in a read-only entry is a violation", () => {
    const sys = boot(machine);
    const { p, a, cr3 } = touched(sys, 2);
    p.mprotect(a, PAGE_SIZE, PROT_READ);
    sys.audit();
    const ea = pteAddr(sys.machine, cr3, a);
    sys.machine.memory.write32(ea, sys.machine.memory.read32(ea) | PG_RW);
    flushAll(sys);
    const v = violation(() => sys.audit());
    expect(v.rule).toBe("writable PTE in writable entry");
    expect(v.details).toContain(`pid ${p.pid} va 0x${a.toString(16)}`);
  });

  it.skipIf(name === "i386")("an executable PTE in an entry without Exec is a violation (NX machines)", () => {
    const sys = boot(machine);
    const { p, a, cr3 } = touched(sys, 1);
    const ea = pteAddr(sys.machine, cr3, a);
    const [lo, hi] = sys.machine.memory.read64(ea);
    expect(hi & PG_NX_HI).not.toBe(0);
    sys.machine.memory.write64(ea, lo, (hi & ~PG_NX_HI) >>> 0);
    flushAll(sys);
    const v = violation(() => sys.audit());
    expect(v.rule).toBe("executable PTE in executable entry");
    expect(v.details).toContain(`pid ${p.pid} va 0x${a.toString(16)}`);
  });

  it("a PTE naming a frame the VM does not manage is a violation", () => {
    const sys = boot(machine);
    const { p, a, cr3 } = touched(sys, 1);
    const pa = 0x2000; // the kernel image: never a managed page
    expect(sys.vm.pageOf(pa)).toBeUndefined();
    const ea = pteAddr(sys.machine, cr3, a);
    const lo = sys.machine.memory.read32(ea);
    sys.machine.memory.write32(ea, ((lo & 0xfff) | pa) >>> 0);
    if (sys.machine.format.entryBytes === 8) {
      sys.machine.memory.write32(ea + 4, sys.machine.memory.read32(ea + 4) & PG_NX_HI);
    }
    flushAll(sys);
    expect(() => sys.audit()).toThrow(InvariantViolation);
    const v = violation(() => auditUserMappings(sys as Kernel));
    expect(v.rule).toBe("PTE frame managed");
    expect(v.details).toContain(`pid ${p.pid} va 0x${a.toString(16)} pa 0x2000`);
  });
});
