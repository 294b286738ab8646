import { MAP_ANON, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE, Prot } from "@vmlab/core";
import type { Cpu } from "@vmlab/machine";
import { describe, expect, it } from "vitest";
import type { Kernel } from "../src/kernel.js";
import { panicOf } from "./helpers.js";
import { boot, MACHINES } from "./systems.js";

describe.each(MACHINES)("interrupt-time completion on %s", (_name, machine) => {
  it("a disk completion lands in the middle of a pmap operation on the same CPU, nested", () => {
    const k = boot(machine, { cpus: 1, disk: { jitter: 0 } }) as unknown as Kernel;
    const p = k.spawn();
    const va = p.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    p.store8(va, 0x42);
    const q = k.spawn();
    const pa = (k.procs.get(p.pid)?.space.pmap.extract(va) ?? -1) as number;
    const pg = k.vm.pageOf(pa);
    if (!pg) throw new Error("no page");
    const scratch = k.vm.allocPage({});
    if (!scratch) throw new Error("no scratch page");

    let seen: { depth: number; cpu: number } | undefined;
    const cpu = k.machine.cpus[0] as Cpu;
    k.onCpu(0, () =>
      k.disk.strategy({
        write: false,
        blkno: 0,
        pa: scratch.pa,
        what: "test",
        iodone: () => {
          seen = { depth: k.machine.curcpu.depth, cpu: k.machine.curcpu.id };
        },
      }),
    );
    // Make the completion due now: the CPU takes the interrupt at its next memory access.
    cpu.cycles = k.machine.events.nextTime();
    cpu.recomputeAttention();
    const qpmap = k.procs.get(q.pid)?.space.pmap;
    if (!qpmap) throw new Error("no pmap");
    k.services.trace.emit("test", "pmap_enter.begin");
    k.onCpu(0, () => qpmap.enter(va, pg, Prot.Read, Prot.Read));
    k.services.trace.emit("test", "pmap_enter.end");

    expect(seen).toEqual({ depth: 1, cpu: 0 });
    const ev = k.trace().filter((e) => e.layer === "test" || e.name === "biodone");
    expect(ev.map((e) => `${e.name}@${e.depth}`)).toEqual(["pmap_enter.begin@0", "biodone@1", "pmap_enter.end@0"]);
    // The interrupted operation still did its job.
    expect(qpmap.extract(va)).toBe(pa);
    k.onCpu(0, () => qpmap.remove(va, va + PAGE_SIZE));
    k.vm.freePage(scratch);
    k.audit();
  });

  it("a completion raised while the CPU is at splbio waits for splx", () => {
    const k = boot(machine, { cpus: 1, disk: { jitter: 0 } }) as unknown as Kernel;
    const scratch = k.vm.allocPage({});
    if (!scratch) throw new Error("no scratch page");
    let done = 0;
    const cpu = k.machine.cpus[0] as Cpu;
    k.onCpu(0, () => {
      const s = k.services.splraise(2);
      k.disk.strategy({ write: false, blkno: 3, pa: scratch.pa, what: "test", iodone: () => done++ });
      cpu.cycles = k.machine.events.nextTime();
      cpu.service();
      expect(done).toBe(0);
      k.services.splx(s);
    });
    expect(done).toBe(1);
  });

  it("sleeping in an interrupt handler panics", () => {
    const k = boot(machine, { cpus: 1, disk: { jitter: 0 } }) as unknown as Kernel;
    const scratch = k.vm.allocPage({});
    if (!scratch) throw new Error("no scratch page");
    k.onCpu(0, () =>
      k.disk.strategy({
        write: false,
        blkno: 0,
        pa: scratch.pa,
        what: "test",
        iodone: () => k.sched.sleep("bad", () => false),
      }),
    );
    expect(panicOf(() => k.advance(1_000_000))).toMatch(/tsleep: "bad" called from an interrupt handler/);
  });
});
