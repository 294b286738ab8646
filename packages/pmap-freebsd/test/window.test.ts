/**
 * How page tables are reached: PTmap for the current pmap, APTmap (with its TLB flush) for another
 * on i386, PMAP1 for pv-list walks, the direct map on amd64 — and what that costs: the same
 * fork-and-touch workload flushes for window switches on i386 and never on amd64.
 */
import { MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE, Prot } from "@vmlab/core";
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import { createSystem } from "@vmlab/kernel";
import type { MachineSpec } from "@vmlab/machine";
import { machVm } from "@vmlab/vm-mach";
import { describe, expect, it } from "vitest";
import { freebsdPmap } from "../src/index.js";
import { bootSystem, kernPa, MACHINES, panicText, RW } from "./support/host.js";

type Factory = (o: { memoryMiB?: number; cpus?: number }) => MachineSpec;

/** Fork-and-touch: a parent touches 32 pages, forks 6 children that each touch and exit. */
function forkAndTouch(machine: Factory): Record<string, number> {
  const sys = createSystem({
    machine: machine({ memoryMiB: 32, cpus: 1 }),
    pmap: freebsdPmap(),
    vm: machVm(),
    seed: 3,
  });
  const p = sys.spawn();
  const n = 32;
  const a = p.mmap(0, n * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
  for (let i = 0; i < n; i++) p.store32(a + i * PAGE_SIZE, i);
  for (let k = 0; k < 6; k++) {
    const c = p.fork();
    for (let i = 0; i < n; i += 2) c.store32(a + i * PAGE_SIZE, 100 + i);
    for (let i = 1; i < n; i += 2) expect(c.load32(a + i * PAGE_SIZE)).toBe(i);
    c.exit(0);
    p.wait();
  }
  sys.audit();
  return sys.stats();
}

describe("window flushes: the same fork-and-touch workload", () => {
  it("flushes the TLB for APTD switches on i386 and i386 PAE, never on amd64 (direct map)", () => {
    const s386 = forkAndTouch(i386);
    const sPae = forkAndTouch(i386Pae);
    const s64 = forkAndTouch(amd64);
    const f = (s: Record<string, number>, k: string) => s[k] ?? 0;
    console.log(
      `pmap.window.switch / flush: i386 ${f(s386, "pmap.window.switch")}/${f(s386, "pmap.window.flush")}, ` +
        `i386-pae ${f(sPae, "pmap.window.switch")}/${f(sPae, "pmap.window.flush")}, ` +
        `amd64 ${f(s64, "pmap.window.switch")}/${f(s64, "pmap.window.flush")}`,
    );
    expect(f(s386, "pmap.window.flush")).toBeGreaterThan(0);
    expect(f(sPae, "pmap.window.flush")).toBeGreaterThan(0);
    expect(f(s64, "pmap.window.flush")).toBeLessThan(f(s386, "pmap.window.flush"));
    expect(f(s64, "pmap.window.flush")).toBeLessThan(f(sPae, "pmap.window.flush"));
    expect(f(s64, "pmap.window.switch")).toBe(0);
  });
});

describe.each(MACHINES)("windows on %s", (name) => {
  it("a pmap that is not current is reached through APTmap (i386) or the DMAP (amd64)", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const a = sys.create();
    const b = sys.create();
    sys.on(0, () => a.activate(0));
    const pg = sys.host.page();
    const before = sys.counter("pmap.window.switch");
    sys.on(0, () => b.enter(0x40_0000, pg, RW, 0));
    expect(sys.on(0, () => b.extract(0x40_0000))).toBe(pg.pa);
    const switches = sys.counter("pmap.window.switch") - before;
    if (name === "amd64") expect(switches).toBe(0);
    else {
      expect(switches).toBe(1);
      // APTDpde of a's directory now names b's.
      const ea = a.pdirVa + sys.pmap.L.aptdptdi * sys.pmap.L.entryBytes;
      expect((sys.on(0, () => sys.pmap.win.load(sys.cpu(0), ea)) & ~0xfff) >>> 0).toBe(b.pdirPa[0]);
    }
    // A second use of the same alternate pmap does not switch again.
    sys.on(0, () => b.enter(0x40_1000, sys.host.page(), RW, 0));
    expect(sys.counter("pmap.window.switch") - before).toBe(switches);
    sys.check();
  });

  it("pv-list walks use pmap_pte_quick (PMAP1 on i386) and only while pinned", () => {
    const sys = bootSystem(name, { cpus: 2 });
    const a = sys.create();
    const b = sys.create();
    sys.on(0, () => sys.pmap.kernelPmap.activate(0));
    const pg = sys.host.page();
    sys.on(0, () => {
      a.enter(0x40_0000, pg, RW, Prot.Write);
      b.enter(0x80_0000, pg, RW, Prot.Write);
    });
    expect(sys.on(1, () => sys.pmap.isModified(pg))).toBe(true);
    sys.on(1, () => sys.pmap.pageProtect(pg, Prot.Read));
    if (name !== "amd64") {
      expect(sys.counter("debug.PMAP1changed")).toBeGreaterThan(0);
      const cpu = sys.cpu(0);
      expect(panicText(() => sys.on(0, () => sys.pmap.win.quickPage(cpu, pg.pa)))).toBe(
        "pmap_pte_quick: curthread not pinned",
      );
    } else expect(sys.counter("debug.PMAP1changed")).toBe(0);
    expect(sys.on(0, () => sys.pmap.isModified(pg))).toBe(true);
    sys.on(0, () => sys.pmap.pageProtect(pg, Prot.None));
    expect(sys.on(0, () => a.extract(0x40_0000))).toBeUndefined();
    sys.check();
  });

  it("pmap_zero_page and pmap_copy_page go through CMAP1/CMAP2 (i386) or the DMAP (amd64)", () => {
    const sys = bootSystem(name, { cpus: 1 });
    const src = sys.host.page();
    const dst = sys.host.page();
    sys.machine.memory.write32(src.pa + 8, 0xfeed);
    sys.on(0, () => sys.pmap.copyPage(src, dst));
    expect(sys.machine.memory.read32(dst.pa + 8)).toBe(0xfeed);
    sys.on(0, () => sys.pmap.zeroPage(dst));
    expect(sys.machine.memory.read32(dst.pa + 8)).toBe(0);
    if (name !== "amd64") {
      // The sysmaps are unmapped again, and no TLB entry is left behind.
      expect(kernPa(sys, 0, sys.pmap.win.sysmapVa(0, 1))).toBe("fault");
    }
    sys.check();
  });
});
