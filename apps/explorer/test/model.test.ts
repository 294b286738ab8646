import { describe, expect, it } from "vitest";
import { combinations, createSystem, MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE } from "vmlab";
import "../src/model/scenarios.js";
import { frameMap, ROLES } from "../src/inspect/frames.js";
import { PageTableReader } from "../src/inspect/pagetable.js";
import { addressSpace, hasVmInspector, pageOwner, processes, pvList } from "../src/inspect/parts.js";
import { tlbs } from "../src/inspect/tlb.js";
import { type RunConfig, record, replay } from "../src/model/session.js";
import { nestTrace } from "../src/model/trace.js";

const base: Omit<RunConfig, "machine" | "pmap" | "vm" | "scenario"> = {
  memoryMiB: 16,
  cpus: 1,
  seed: 1,
  erratumOn: true,
  audit: true,
};

describe.each(combinations())("$machine/$pmap/$vm", (c) => {
  it("the stand-in reproducer panics with a double fault at the switch to the child", () => {
    const rec = record({ ...base, ...c, scenario: "uarea-double-fault" });
    expect(rec.end).toEqual({ kind: "panic", message: "panic: double fault" });
    const f = rec.steps[(rec.failure ?? 0) - 1];
    expect(f?.outcome.kind).toBe("panic");
    expect(f?.label).toMatch(/^pid 2: load32/);
    expect(rec.steps[(rec.failure ?? 0) - 2]?.label).toMatch(/u-area mapping lost/);
    const off = record({ ...base, ...c, scenario: "uarea-double-fault", erratumOn: false });
    expect(off.end.kind).toBe("ok");
    expect(off.failure).toBeUndefined();
  });

  it("replay reproduces the recorded counters at every position", () => {
    const rec = record({ ...base, ...c, scenario: "fork-cow-small" });
    expect(rec.end.kind).toBe("ok");
    for (const pos of [0, 3, 7, rec.steps.length]) expect(replay(rec, pos).divergence).toEqual([]);
  });

  it("reading the page tables from memory agrees with the MMU for every user mapping", () => {
    const sys = createSystem({ ...c, memoryMiB: 16, seed: 2 });
    const p = sys.spawn();
    const a = p.mmap(0, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    for (let i = 0; i < 8; i += 2) p.store32(a + i * PAGE_SIZE, i);
    const info = processes(sys).find((x) => x.pid === p.pid)!;
    const reader = new PageTableReader(sys.machine, sys.layout);
    const leaves: [number, number][] = [];
    reader.walk(info.cr3!, {
      leaf: (va, frame, _s, user) => user && va < sys.layout.userMax && leaves.push([va, frame]),
    });
    expect(leaves.map(([va]) => va)).toEqual([0, 2, 4, 6].map((i) => a + i * PAGE_SIZE));
    const cpu = sys.machine.cpus[0]!;
    for (const [va, frame] of leaves) {
      const t = cpu.translate(va, { access: "read", user: true });
      expect("pa" in t && t.pa).toBe(frame);
      expect(reader.lookup(info.cr3!, va)?.pa).toBe(frame);
      // The pv list of the frame names this mapping.
      expect(pvList(sys, frame)).toContainEqual(expect.objectContaining({ pmapId: info.pmapId, va }));
    }
    const fm = frameMap(sys);
    const roleOf = (pa: number) => ROLES[fm.role[fm.pa.indexOf(pa)]!];
    for (const [, frame] of leaves) expect(roleOf(frame)).toBe("user");
    expect(roleOf(reader.root(info.cr3!) - (reader.root(info.cr3!) % PAGE_SIZE))).toBe("pagetable");
    // Every VM layer has an adapter: free pages are known and nothing is left uninspectable.
    expect(hasVmInspector(sys)).toBe(true);
    expect(fm.counts.free).toBeGreaterThan(0);
    expect(fm.notes).toEqual([]);
    // The address space has the region, backed by an object (Mach, FreeBSD) or an amap (UVM)
    // holding the written pages on the frames the tables map.
    const as = addressSpace(sys, p.pid);
    if (typeof as === "string") throw new Error(as);
    const e = as.entries.find((x) => x.start === a && x.end === a + 8 * PAGE_SIZE);
    const n = as.nodes.find((x) => x.id === e?.backing);
    expect(n?.kind).toBe(sys.vm.name === "uvm" ? "amap" : "object");
    expect(n?.pages?.map((pg) => [a + pg.index * PAGE_SIZE, pg.pa])).toEqual(leaves);
    for (const [, frame] of leaves) expect(pageOwner(sys, frame)).toBeDefined();
    // The TLB agrees with the tables.
    for (const t of tlbs(sys)) for (const e of t.entries) expect(e.stale).toBeUndefined();
  });

  it("the TLB view marks an entry the tables no longer justify as stale", () => {
    const sys = createSystem({ ...c, memoryMiB: 16, seed: 3 });
    const p = sys.spawn();
    const a = p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    p.store32(a, 1);
    const cr3 = processes(sys).find((x) => x.pid === p.pid)!.cr3!;
    const reader = new PageTableReader(sys.machine, sys.layout);
    let pte = -1;
    reader.walk(cr3, { leaf: (va, _f, _s, _u, _w, e) => va === a && (pte = e.entryPa) });
    // Clear the PTE behind the pmap's back (no INVLPG): the cached translation is now stale.
    sys.machine.memory.write32(pte, 0);
    const e = tlbs(sys)[0]!.entries.find((x) => x.va === a);
    expect(e?.stale).toBe("not mapped in the tables");
    expect(e?.deferred).toBe(false);
  });

  it("after mlock the locked frames are wired, and a page shared across fork has a pv entry per process", () => {
    const rec = record({ ...base, ...c, scenario: "share-wire-file" });
    expect(rec.end.kind).toBe("ok");
    expect(rec.steps.filter((s) => s.violation !== undefined)).toEqual([]);
    const mlock = rec.steps.find((s) => /mlock\(/.test(s.label))!;
    const { sys } = replay(rec, mlock.position);
    const fm = frameMap(sys);
    expect(fm.counts.wired).toBe(2);
    // The inherit-shared region: page 0x6000 was written by the child and is mapped in both.
    const [p1, p2] = processes(sys);
    const reader = new PageTableReader(sys.machine, sys.layout);
    const t1 = reader.lookup(p1!.cr3!, 0x6000);
    const t2 = reader.lookup(p2!.cr3!, 0x6000);
    expect(t1?.pa).toBeDefined();
    expect(t2?.pa).toBe(t1?.pa);
    const pv = pvList(sys, t1!.pa)!;
    expect(pv.map((e) => e.pmapId).sort()).toEqual([p1!.pmapId, p2!.pmapId].sort());
  });

  it("nests interrupts under the code they interrupted", () => {
    const rec = record({ ...base, ...c, scenario: "share-wire-file", audit: false });
    const w = rec.steps.find((s) => s.label.startsWith("fs.writeFile"))!;
    const roots = nestTrace(w.events);
    const nested = roots.flatMap((r) => r.children);
    expect(nested.length).toBeGreaterThan(0);
    for (const n of nested) expect(n.event.depth).toBe(1);
    expect(roots.every((r) => r.event.depth === 0 || r.children.length === 0)).toBe(true);
  });

  it("every view's inspection works at every step, and no TLB entry is stale between steps", () => {
    const rec = record({ ...base, ...c, scenario: "fork-cow-small", audit: false });
    for (let pos = 0; pos <= rec.steps.length; pos++) {
      const { sys } = replay(rec, pos);
      const fm = frameMap(sys);
      expect(fm.counts.unknown, `step ${pos}`).toBe(0);
      for (const t of tlbs(sys)) {
        expect(
          t.entries.filter((e) => e.stale && !e.deferred).map((e) => `cpu${t.cpu} ${e.va.toString(16)}: ${e.stale}`),
          `step ${pos}`,
        ).toEqual([]);
      }
      for (const p of processes(sys)) {
        // A running process's map and what backs it; an exited one's space is gone.
        const as = addressSpace(sys, p.pid);
        expect(typeof as, `step ${pos} pid ${p.pid}`).toBe(p.state === "running" ? "object" : "string");
        if (typeof as === "object") expect(as.note).toBeUndefined();
        if (p.cr3 !== undefined) new PageTableReader(sys.machine, sys.layout).walk(p.cr3, {});
      }
    }
  });
});
