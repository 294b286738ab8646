/**
 * The generic machine: configuration checks, CPUs and control registers, the cycle cost model and
 * counters, interrupts with priority levels, device events and IPIs.
 *
 * @vmlab/machine may not import the hw packages, so these tests boot a machine from a local copy
 * of the 32-bit (non-PAE) paging format. Paging behaviour itself (walks, TLB coherence, A/D bits,
 * shootdowns) is tested with the real formats in hw-i386 and hw-amd64.
 */
import { ConfigError, IPL, splraise, splx } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import {
  type CostModel,
  type Cpu,
  CpuException,
  DEFAULT_COSTS,
  DEFAULT_TLB,
  LARGE_IF_PSE,
  LARGE_NEVER,
  MAX_CPUS,
  type Machine,
  MachineCheck,
  type MachineOptions,
  MachineSpec,
  type MachineTraits,
  type PagingFormat,
  PFERR_P,
  PFERR_U,
  PFERR_W,
  PG_A,
  PG_M,
  PG_RW,
  PG_U,
  PG_V,
  VEC_GP,
  VEC_PF,
} from "../src/index.js";

const TEST_FORMAT: PagingFormat = {
  name: "i386",
  entryBytes: 4,
  vaBits: 32,
  maxPhysBits: 32,
  hasNx: false,
  pdpteRegisters: false,
  rsvPdpte: [0, 0],
  cr3Mask: 0xffff_f000,
  levels: [
    { name: "PDE", shift: 22, indexBits: 10, large: LARGE_IF_PSE, rsvTable: [0, 0], rsvLeaf: [0x003f_e000, 0] },
    { name: "PTE", shift: 12, indexBits: 10, large: LARGE_NEVER, rsvTable: [0, 0], rsvLeaf: [0, 0] },
  ],
};
const TRAITS: MachineTraits = { format: TEST_FORMAT, maxMemoryMiB: 256, memoryLimitReason: "test limit" };
const spec = (o: MachineOptions = {}) => new MachineSpec(TRAITS, o);

const PD = 0x1000;
const PT = 0x2000;
/** VA 4 MiB + i pages maps FRAME + i pages, user read/write, for i < 16; page 16 is not present. */
const VA = 0x40_0000;
const FRAME = 0x10_0000;

function boot(o: MachineOptions = {}): Machine {
  const m = spec({ memoryMiB: 4, ...o }).boot();
  m.memory.write32(PD + 4 * (VA >>> 22), PT | PG_V | PG_RW | PG_U);
  for (let i = 0; i < 16; i++) m.memory.write32(PT + 4 * i, (FRAME + i * 4096) | PG_V | PG_RW | PG_U);
  for (const c of m.cpus) c.setControl({ cr3: PD });
  return m;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

// ------------------------------------------------------------------------------------------------

describe("MachineSpec", () => {
  it("resolves defaults: 64 MiB, 1 CPU, the default TLB and cost table", () => {
    const s = spec();
    expect(s.name).toBe("i386");
    expect(s.format).toBe(TEST_FORMAT);
    expect(s.traits).toBe(TRAITS);
    expect(s.options).toEqual({ memoryMiB: 64, cpus: 1, tlb: { ...DEFAULT_TLB }, costs: { ...DEFAULT_COSTS } });
  });

  it("merges partial TLB geometry and cost overrides into the defaults", () => {
    const s = spec({ tlb: { smallWays: 8 }, costs: { invlpg: 7 } });
    expect(s.options.tlb).toEqual({ smallSets: 16, smallWays: 8, largeEntries: 16 });
    expect(s.options.costs).toEqual({ ...DEFAULT_COSTS, invlpg: 7 });
    const m = s.boot();
    expect(m.cpus[0]?.tlb.smallWays).toBe(8);
    expect(m.costs.invlpg).toBe(7);
  });

  it.each([0, -1, 1.5, 257, Number.NaN])("rejects memoryMiB %s with a ConfigError naming the field", (v) => {
    const e = configError(() => spec({ memoryMiB: v }));
    expect(e.field).toBe("memoryMiB");
    expect(e.value).toBe(v);
    expect(e.accepted).toBe("an integer from 1 to 256 on i386 (test limit)");
    expect(e.message).toContain("memoryMiB: ");
    expect(e.message).toContain("an integer from 1 to 256 on i386 (test limit)");
  });

  it.each([0, 33, 2.5, -1])("rejects cpus %s", (v) => {
    const e = configError(() => spec({ cpus: v }));
    expect(e.field).toBe("cpus");
    expect(e.value).toBe(v);
    expect(e.accepted).toBe(`an integer from 1 to ${MAX_CPUS}`);
  });

  it("accepts 1 and 32 CPUs (MAX_CPUS)", () => {
    expect(MAX_CPUS).toBe(32);
    expect(
      spec({ cpus: 32, memoryMiB: 1 })
        .boot()
        .cpus.map((c) => c.id),
    ).toEqual([...Array(32).keys()]);
    expect(spec({ cpus: 1, memoryMiB: 1 }).boot().cpus.length).toBe(1);
  });

  it.each([
    [{ smallSets: 3 }, "tlb.smallSets", "a power of two up to 4096"],
    [{ smallSets: 0 }, "tlb.smallSets", "a power of two up to 4096"],
    [{ smallSets: 8192 }, "tlb.smallSets", "a power of two up to 4096"],
    [{ smallWays: 0 }, "tlb.smallWays", "an integer from 1 to 64"],
    [{ smallWays: 65 }, "tlb.smallWays", "an integer from 1 to 64"],
    [{ smallWays: 1.5 }, "tlb.smallWays", "an integer from 1 to 64"],
    [{ largeEntries: 0 }, "tlb.largeEntries", "an integer from 1 to 256"],
    [{ largeEntries: 257 }, "tlb.largeEntries", "an integer from 1 to 256"],
  ] as const)("rejects TLB geometry %o", (tlb, field, accepted) => {
    const e = configError(() => spec({ tlb }));
    expect(e.field).toBe(field);
    expect(e.accepted).toBe(accepted);
  });

  it.each([
    ["invlpg", -1],
    ["walkLevel", Number.POSITIVE_INFINITY],
    ["memAccess", Number.NaN],
  ] as const)("rejects cost %s = %s", (k, v) => {
    const e = configError(() => spec({ costs: { [k]: v } }));
    expect(e.field).toBe(`costs.${k}`);
    expect(e.accepted).toBe("a finite number of cycles >= 0");
  });

  it("boots independent machines from one spec", () => {
    const s = spec({ memoryMiB: 1, cpus: 2 });
    const a = s.boot();
    const b = s.boot();
    a.memory.write32(0x100, 42);
    expect(b.memory.read32(0x100)).toBe(0);
    expect(a.cpus[0]).not.toBe(b.cpus[0]);
    expect(a.memory.sizeBytes).toBe(1024 * 1024);
    expect(a.cpus.length).toBe(2);
    expect(a.name).toBe("i386");
  });
});

describe("Machine", () => {
  it("starts with CPU 0 current, fresh control state and all counters at zero", () => {
    const m = spec({ memoryMiB: 1, cpus: 2 }).boot();
    const [c0, c1] = m.cpus as [Cpu, Cpu];
    expect(m.curcpu).toBe(c0);
    expect(m.cpu(1)).toBe(c1);
    expect(() => m.cpu(2)).toThrow("no CPU 2 (machine has 2)");
    expect(() => m.cpu(-1)).toThrow(RangeError);
    expect([c0.cr3, c0.wp, c0.pse, c0.pge, c0.nxe, c0.smep, c0.ipl, c0.depth, c0.cycles]).toEqual([
      0,
      false,
      false,
      false,
      false,
      false,
      0,
      0,
      0,
    ]);
    expect(m.stats()).toEqual({
      "cpu.cycles": 0,
      "tlb.hit": 0,
      "tlb.miss": 0,
      "walk.levels": 0,
      "walk.ad_updates": 0,
      "tlb.invlpg": 0,
      "tlb.flush": 0,
      "ipi.sent": 0,
      "cpu.pagefault": 0,
      "cpu.interrupt": 0,
    });
  });
});

describe("control registers", () => {
  it("refuses EFER.NXE on a format without NX (#GP) and changes nothing", () => {
    const m = boot();
    const cpu = m.cpus[0] as Cpu;
    let err: unknown;
    try {
      cpu.setControl({ nxe: true, wp: true, cr3: 0x3000 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CpuException);
    expect((err as CpuException).vector).toBe(VEC_GP);
    expect((err as CpuException).errorCode).toBe(0);
    expect(cpu.nxe).toBe(false);
    expect(cpu.wp).toBe(false);
    expect(cpu.cr3).toBe(PD);
    cpu.setControl({ nxe: false }); // clearing it is fine
  });

  it.each([-4096, 2 ** 32, 4096.5, Number.NaN])("refuses CR3 = %s with #GP", (cr3) => {
    const cpu = boot().cpus[0] as Cpu;
    expect(() => cpu.setControl({ cr3 })).toThrow(CpuException);
    expect(cpu.cr3).toBe(PD);
  });

  it("refuses linear addresses outside 32 bits on a 32-bit format (a caller bug, not a fault)", () => {
    const cpu = boot().cpus[0] as Cpu;
    expect(() => cpu.translate(2 ** 32, { access: "read", user: false })).toThrow(RangeError);
    expect(() => cpu.translate(-4, { access: "read", user: false })).toThrow(RangeError);
    expect(() => cpu.translate(Number.NaN, { access: "read", user: false })).toThrow(/not a number/);
  });

  it("CR0.WP applies to cached entries at once: a supervisor write to a read-only page faults after WP=1", () => {
    const m = boot();
    const cpu = m.cpus[0] as Cpu;
    m.memory.write32(PT, FRAME | PG_V | PG_U); // read-only
    expect(cpu.store32(VA, 1, false)).toBe(true); // WP=0: allowed, sets D
    expect(m.memory.read32(PT) & (PG_A | PG_M)).toBe(PG_A | PG_M);
    expect(cpu.tlbEntries()).toHaveLength(1);
    cpu.setControl({ wp: true });
    expect(cpu.tlbEntries()).toHaveLength(1); // WP changes only the rights check
    expect(cpu.store32(VA, 2, false)).toBe(false);
    expect([cpu.faultVector, cpu.faultErrorCode, cpu.cr2]).toEqual([VEC_PF, PFERR_P | PFERR_W, VA]);
    expect(m.memory.read32(FRAME)).toBe(1);
    expect(cpu.store32(VA, 3, true)).toBe(false); // user writes never pass a read-only page
    expect(cpu.faultErrorCode).toBe(PFERR_P | PFERR_W | PFERR_U);
  });

  it("a walk that reaches a table outside RAM raises MachineCheck", () => {
    const m = boot();
    const cpu = m.cpus[0] as Cpu;
    m.memory.write32(PD + 4 * 2, 0x7fff_f000 | PG_V | PG_RW); // page table beyond the 4 MiB of RAM
    expect(() => cpu.translate(0x80_0000, { access: "read", user: false })).toThrow(MachineCheck);
  });
});

// ------------------------------------------------------------------------------------------------

describe("cycle cost model and counters", () => {
  const costs: Partial<CostModel> = {
    memAccess: 1,
    tlbMiss: 10,
    walkLevel: 100,
    adUpdate: 1000,
    invlpg: 10_000,
    cr3Write: 100_000,
    tlbFlushAll: 1_000_000,
    ipiSend: 3,
    ipiReceive: 7,
    interruptEntry: 20,
    interruptExit: 40,
  };

  it("charges each hardware event exactly as the table says", () => {
    const m = spec({ memoryMiB: 4, costs }).boot();
    const cpu = m.cpus[0] as Cpu;
    m.memory.write32(PD + 4, PT | PG_V | PG_RW | PG_U);
    m.memory.write32(PT, FRAME | PG_V | PG_RW | PG_U);
    m.memory.write32(PT + 4, (FRAME + 4096) | PG_V | PG_RW | PG_U);
    const step = (f: () => unknown) => {
      const before = cpu.cycles;
      f();
      return cpu.cycles - before;
    };
    expect(step(() => cpu.setControl({ cr3: PD }))).toBe(100_000);
    // Miss: fixed cost, two levels read, A set in PDE and PTE, then the access.
    expect(step(() => cpu.load32(VA, false))).toBe(10 + 2 * 100 + 2 * 1000 + 1);
    expect(step(() => cpu.load32(VA + 4, false))).toBe(1); // micro-TLB hit
    expect(step(() => cpu.translate(VA, { access: "read", user: true }))).toBe(1); // TLB hit
    // Write through a clean entry: re-walk, D set in the PTE only.
    expect(step(() => cpu.store32(VA, 5, false))).toBe(10 + 2 * 100 + 1000 + 1);
    expect(step(() => cpu.store32(VA, 6, false))).toBe(1);
    // Second page: the PDE already has A.
    expect(step(() => cpu.load32(VA + 4096, false))).toBe(10 + 2 * 100 + 1000 + 1);
    // Not present: walk cost, no access, no A/D write.
    expect(step(() => cpu.load32(VA + 2 * 4096, false))).toBe(10 + 2 * 100);
    expect(step(() => cpu.invlpg(VA))).toBe(10_000);
    expect(step(() => cpu.setControl({ cr3: PD }))).toBe(100_000);
    expect(step(() => cpu.flushTlb())).toBe(1_000_000);
    expect(step(() => cpu.setControl({ pge: true }))).toBe(1_000_000); // CR4.PGE change flushes all
    expect(step(() => cpu.setControl({ wp: true }))).toBe(0);

    expect(m.stats()).toEqual({
      "cpu.cycles": cpu.cycles,
      "tlb.hit": 3,
      "tlb.miss": 4,
      "walk.levels": 8,
      "walk.ad_updates": 4,
      "tlb.invlpg": 1,
      "tlb.flush": 4, // two CR3 writes, flushTlb, the PGE change
      "ipi.sent": 0,
      "cpu.pagefault": 1,
      "cpu.interrupt": 0,
    });
  });

  it("with the default table, a TLB miss costs more than a hit", () => {
    const m = boot();
    const cpu = m.cpus[0] as Cpu;
    const c0 = cpu.cycles;
    cpu.load32(VA, false);
    const miss = cpu.cycles - c0;
    const c1 = cpu.cycles;
    cpu.load32(VA, false);
    const hit = cpu.cycles - c1;
    const d = DEFAULT_COSTS;
    expect(hit).toBe(d.memAccess);
    expect(miss).toBe(d.tlbMiss + 2 * d.walkLevel + 2 * d.adUpdate + d.memAccess);
    expect(miss).toBeGreaterThan(hit);
    expect(DEFAULT_COSTS.name).toBe("x86-p6-era");
    expect(Object.isFrozen(DEFAULT_COSTS)).toBe(true);
  });

  it("sums counters over CPUs", () => {
    const m = boot({ cpus: 3 });
    const [a, b, c] = m.cpus as [Cpu, Cpu, Cpu];
    a.load32(VA, false);
    b.load32(VA, false);
    b.load32(VA, false);
    c.invlpg(VA);
    const s = m.stats();
    expect(s["tlb.miss"]).toBe(2);
    expect(s["tlb.hit"]).toBe(1);
    expect(s["tlb.invlpg"]).toBe(1);
    expect(s["tlb.flush"]).toBe(3); // one CR3 load per CPU at boot
    expect(s["walk.levels"]).toBe(4);
    expect(s["cpu.cycles"]).toBe(a.cycles + b.cycles + c.cycles);
  });
});

// ------------------------------------------------------------------------------------------------

interface Seen {
  name: string;
  depth: number;
  ipl: number;
  current: boolean;
}

describe("interrupts", () => {
  const setup = () => {
    const m = boot({ costs: { interruptEntry: 20, interruptExit: 40, memAccess: 1 } });
    const cpu = m.cpus[0] as Cpu;
    cpu.load32(VA, false); // warm the TLB
    const log: Seen[] = [];
    const irq = (name: string, level: number, body?: (c: Cpu) => void) => ({
      name,
      level,
      handler: (c: Cpu) => {
        log.push({ name, depth: c.depth, ipl: c.ipl, current: m.curcpu === c });
        body?.(c);
      },
    });
    return { m, cpu, log, irq };
  };

  it("an enabled interrupt is delivered at the next load32, nested at its level, and costs entry + exit", () => {
    const { m, cpu, log, irq } = setup();
    cpu.post(irq("disk", IPL.BIO));
    expect(log).toEqual([]); // posting does not run it
    expect(cpu.pendingInterrupts.map((i) => i.name)).toEqual(["disk"]);
    const c0 = cpu.cycles;
    expect(cpu.load32(VA, false)).toBe(0);
    expect(log).toEqual([{ name: "disk", depth: 1, ipl: IPL.BIO, current: true }]);
    expect(cpu.cycles - c0).toBe(20 + 40 + 1);
    expect([cpu.depth, cpu.ipl]).toEqual([0, 0]);
    expect(cpu.pendingInterrupts).toEqual([]);
    expect(m.stats()["cpu.interrupt"]).toBe(1);
    cpu.load32(VA, false);
    expect(log).toHaveLength(1); // delivered once
  });

  it("is delivered at a store32 too, before the access is performed", () => {
    const { m, cpu, irq } = setup();
    let seen = -1;
    cpu.post(irq("clock", IPL.CLOCK, () => (seen = m.memory.read32(FRAME))));
    expect(cpu.store32(VA, 77, false)).toBe(true);
    expect(seen).toBe(0);
    expect(m.memory.read32(FRAME)).toBe(77);
  });

  it("stays pending while ipl >= its level, and splx that lowers the level delivers it immediately", () => {
    const { cpu, log, irq } = setup();
    const s = splraise(cpu, IPL.VM);
    expect(s).toBe(IPL.NONE);
    cpu.post(irq("disk", IPL.BIO));
    cpu.post(irq("net", IPL.VM)); // equal level: masked too
    cpu.load32(VA, false);
    cpu.store32(VA, 1, false);
    expect(log).toEqual([]);
    expect(cpu.pendingInterrupts).toHaveLength(2);
    // Raising further and restoring to VM unmasks nothing.
    const s2 = splraise(cpu, IPL.HIGH);
    splx(cpu, s2);
    expect(log).toEqual([]);
    splx(cpu, s); // no memory access needed
    expect(log).toEqual([
      { name: "net", depth: 1, ipl: IPL.VM, current: true },
      { name: "disk", depth: 1, ipl: IPL.BIO, current: true },
    ]);
    expect(cpu.ipl).toBe(IPL.NONE);
    expect(cpu.pendingInterrupts).toEqual([]);
  });

  it("unmasked by a partial splx: only the levels above the new ipl run", () => {
    const { cpu, log, irq } = setup();
    const s = splraise(cpu, IPL.HIGH);
    cpu.post(irq("soft", IPL.SOFTCLOCK));
    cpu.post(irq("clock", IPL.CLOCK));
    cpu.post(irq("disk", IPL.BIO));
    splx(cpu, IPL.BIO);
    expect(log.map((l) => l.name)).toEqual(["clock"]); // disk is at BIO itself: still masked
    expect(cpu.pendingInterrupts.map((i) => i.name)).toEqual(["soft", "disk"]);
    splx(cpu, s);
    expect(log.map((l) => [l.name, l.depth])).toEqual([
      ["clock", 1],
      ["disk", 1],
      ["soft", 1],
    ]);
  });

  it("a higher-level interrupt nests inside a lower one's handler; a lower one waits until it returns", () => {
    const { cpu, log, irq } = setup();
    cpu.post(
      irq("disk", IPL.BIO, (c) => {
        c.post(irq("soft", IPL.SOFTCLOCK));
        c.post(
          irq("clock", IPL.CLOCK, (c2) => {
            c2.load32(VA, false);
          }),
        );
        expect(log.map((l) => l.name)).toEqual(["disk"]); // not before the next access
        c.load32(VA, false); // clock is delivered here, nested
        expect(log.map((l) => l.name)).toEqual(["disk", "clock"]);
        c.load32(VA, false); // soft (below BIO) still waits
        log.push({ name: "disk-end", depth: c.depth, ipl: c.ipl, current: true });
      }),
    );
    cpu.load32(VA, false);
    expect(log).toEqual([
      { name: "disk", depth: 1, ipl: IPL.BIO, current: true },
      { name: "clock", depth: 2, ipl: IPL.CLOCK, current: true },
      { name: "disk-end", depth: 1, ipl: IPL.BIO, current: true },
      { name: "soft", depth: 1, ipl: IPL.SOFTCLOCK, current: true },
    ]);
    expect([cpu.depth, cpu.ipl]).toEqual([0, 0]);
  });

  it("delivers the highest pending level first", () => {
    const { cpu, log, irq } = setup();
    const s = splraise(cpu, IPL.HIGH);
    cpu.post(irq("soft", IPL.SOFTCLOCK));
    cpu.post(irq("disk", IPL.BIO));
    cpu.post(irq("clock", IPL.CLOCK));
    splx(cpu, s);
    expect(log.map((l) => [l.name, l.ipl, l.depth])).toEqual([
      ["clock", IPL.CLOCK, 1],
      ["disk", IPL.BIO, 1],
      ["soft", IPL.SOFTCLOCK, 1],
    ]);
  });

  it("restores ipl, depth and the current CPU when a handler throws", () => {
    const { m, cpu, irq } = setup();
    cpu.post(
      irq("bad", IPL.BIO, () => {
        throw new Error("panic in handler");
      }),
    );
    expect(() => cpu.load32(VA, false)).toThrow("panic in handler");
    expect([cpu.depth, cpu.ipl]).toEqual([0, 0]);
    expect(m.curcpu).toBe(cpu);
  });

  it("runs a handler with the interrupted CPU as curcpu", () => {
    const m = boot({ cpus: 2 });
    const [c0, c1] = m.cpus as [Cpu, Cpu];
    let cur: Cpu | undefined;
    c1.post({ name: "x", level: IPL.BIO, handler: () => (cur = m.curcpu) });
    c0.load32(VA, false);
    expect(cur).toBeUndefined(); // pending on CPU 1 only
    c1.load32(VA, false);
    expect(cur).toBe(c1);
    expect(m.curcpu).toBe(c0);
  });
});

describe("device events", () => {
  it("run when the CPU's clock has reached their time, at its next access", () => {
    const m = boot();
    const cpu = m.cpus[0] as Cpu;
    cpu.load32(VA, false);
    cpu.cycles = 1000;
    const ran: [Cpu, number][] = [];
    m.events.schedule(1500, "disk", (c) => ran.push([c, c.cycles]));
    cpu.load32(VA, false); // at 1000
    expect(ran).toEqual([]);
    cpu.cycles = 1499;
    cpu.load32(VA, false); // starts at 1499 (ends at 1500): not yet
    expect(ran).toEqual([]);
    expect(cpu.cycles).toBe(1500);
    cpu.load32(VA, false);
    expect(ran).toEqual([[cpu, 1500]]);
    cpu.load32(VA, false);
    expect(ran).toHaveLength(1);
    expect(m.events.size).toBe(0);
  });

  it("an event that posts an interrupt has it delivered at the same access", () => {
    const m = boot();
    const cpu = m.cpus[0] as Cpu;
    cpu.load32(VA, false);
    const log: string[] = [];
    m.events.schedule(cpu.cycles + 10, "disk-done", (c) => {
      log.push("event");
      c.post({ name: "bio", level: IPL.BIO, handler: (c2) => log.push(`irq depth=${c2.depth}`) });
    });
    cpu.load32(VA, false);
    expect(log).toEqual([]);
    cpu.cycles += 10;
    cpu.store32(VA, 1, false);
    expect(log).toEqual(["event", "irq depth=1"]);
  });

  it("masked device interrupts wait for splx", () => {
    const m = boot();
    const cpu = m.cpus[0] as Cpu;
    const log: string[] = [];
    const s = splraise(cpu, IPL.BIO);
    m.events.schedule(0, "disk-done", (c) => c.post({ name: "bio", level: IPL.BIO, handler: () => log.push("irq") }));
    cpu.load32(VA, false);
    expect(m.events.size).toBe(0); // the event ran
    expect(log).toEqual([]); // its interrupt is masked
    splx(cpu, s);
    expect(log).toEqual(["irq"]);
  });

  it("each CPU runs what is due by its own clock", () => {
    const m = boot({ cpus: 2 });
    const [c0, c1] = m.cpus as [Cpu, Cpu];
    c1.cycles = 10_000;
    const ran: number[] = [];
    m.events.schedule(5_000, "tick", (c) => ran.push(c.id));
    c0.load32(VA, false);
    expect(ran).toEqual([]);
    c1.load32(VA, false);
    expect(ran).toEqual([1]);
  });

  it("advance(cycles) moves every CPU's clock and runs what became due, on the first CPU that reaches it", () => {
    const m = boot({ cpus: 2, costs: { interruptEntry: 0, interruptExit: 0 } });
    const [c0, c1] = m.cpus as [Cpu, Cpu];
    const t0 = c0.cycles;
    const t1 = c1.cycles;
    const ran: [number, boolean][] = [];
    m.events.schedule(t0 + 500, "clock", (c) => ran.push([c.id, m.curcpu === c]));
    m.events.schedule(t0 + 5000, "later", (c) => ran.push([c.id + 10, m.curcpu === c]));
    m.advance(499);
    expect(ran).toEqual([]);
    m.advance(1);
    expect(ran).toEqual([[0, true]]);
    expect(c0.cycles).toBe(t0 + 500);
    expect(c1.cycles).toBe(t1 + 500);
    expect(m.curcpu).toBe(c0);
    m.advance(10_000);
    expect(ran).toEqual([
      [0, true],
      [10, true],
    ]);
    expect(() => m.advance(-1)).toThrow(RangeError);
    expect(() => m.advance(Number.NaN)).toThrow(RangeError);
  });

  it("advance delivers interrupts that device events post", () => {
    const m = boot();
    const cpu = m.cpus[0] as Cpu;
    const log: number[] = [];
    m.events.schedule(cpu.cycles + 100, "disk", (c) =>
      c.post({ name: "bio", level: IPL.BIO, handler: (c2) => log.push(c2.depth) }),
    );
    m.advance(100);
    expect(log).toEqual([1]);
  });
});

describe("IPIs", () => {
  it("run the handler on the target before the sender continues, as curcpu, and charge both CPUs", () => {
    const m = boot({ cpus: 2, costs: { ipiSend: 3, ipiReceive: 7 } });
    const [c0, c1] = m.cpus as [Cpu, Cpu];
    const s0 = c0.cycles;
    const s1 = c1.cycles;
    const seen: [Cpu, Cpu][] = [];
    m.ipi(c0, c1, (c) => seen.push([c, m.curcpu]));
    expect(seen).toEqual([[c1, c1]]);
    expect(m.curcpu).toBe(c0);
    expect(c0.cycles - s0).toBe(3);
    expect(c1.cycles - s1).toBe(7);
    expect(m.stats()["ipi.sent"]).toBe(1);
    expect(m.ipisSent).toBe(1);
  });

  it("nest, and restore curcpu even when a handler throws", () => {
    const m = boot({ cpus: 3 });
    const [c0, c1, c2] = m.cpus as [Cpu, Cpu, Cpu];
    const order: number[] = [];
    m.ipi(c0, c1, () => {
      order.push(m.curcpu.id);
      m.ipi(c1, c2, () => order.push(m.curcpu.id));
      order.push(m.curcpu.id);
    });
    expect(order).toEqual([1, 2, 1]);
    expect(() =>
      m.ipi(c0, c2, () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(m.curcpu).toBe(c0);
    expect(m.stats()["ipi.sent"]).toBe(3);
  });

  it("runOn returns the function's value and restores curcpu", () => {
    const m = boot({ cpus: 2 });
    const c1 = m.cpus[1] as Cpu;
    expect(m.runOn(c1, (c) => (m.curcpu === c ? c.id + 40 : -1))).toBe(41);
    expect(m.curcpu).toBe(m.cpus[0]);
  });
});
