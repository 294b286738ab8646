/**
 * Wiring under held memory pressure (decision 0011). While pressure is held a new wiring may find
 * no memory: mlock(2) is then ENOMEM, mlockall(MCL_CURRENT) EAGAIN, mprotect raising PROT_NONE
 * pages under MCL_FUTURE ENOMEM (protection kept), mmap with MAP_WIRED or under MCL_FUTURE ENOMEM
 * (unmapped), and the kernel unwinds what it wired. The model accepts exactly that, only while
 * pressure is held, and undoes its own wiring the same way, so later outcomes still agree.
 *
 * First against the fake system (the acceptance itself: the right errno and the unwinding are
 * required), then against whole systems — Mach pmap × Mach VM, Cranor's pmap × UVM, FreeBSD pmap
 * × FreeBSD VM — where a 256-page wiring under pressure that leaves nothing pageable must fail.
 */
import { MCL_CURRENT, MCL_FUTURE, PROT_NONE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import type { System, SystemOptions } from "@vmlab/kernel";
import { createSystem } from "@vmlab/kernel";
import { describe, expect, it } from "vitest";
import {
  MlockallCommand,
  type MmapArgs,
  MmapCommand,
  RangeCommand,
  type Real,
  setup,
  type Target,
  VerifyCommand,
  type VmCommand,
  type World,
} from "../src/commands.js";
import { PressureCommand, UnwireAllCommand } from "../src/commands-io.js";
import { fakeSystem, type WireShortage } from "./support/fake-system.js";

const RW = PROT_READ | PROT_WRITE;
/** Larger than what is free under pressure on every VM (UVM keeps 128 pages free) plus anything pageable. */
const BIG = 256;

function mmap(pages: number, prot: number, wired = false): MmapCommand {
  const a: MmapArgs = { p: 0, via: 0, pages, prot, shared: false, wired, placement: "any", region: 0, page: 0 };
  return new MmapCommand(a);
}

/** The first `pages` pages of region `region` (0 the newest, 1 the oldest: commands.ts regionOf). */
function range(region: number, pages: number): Target {
  return { region, page: 0, pages, shape: 0, slop: 0 };
}

const mlock = (region: number, pages: number) => new RangeCommand("mlock", 0, 0, range(region, pages), 0);
const munlock = (region: number, pages: number) => new RangeCommand("munlock", 0, 0, range(region, pages), 0);
const mprotect = (region: number, pages: number, prot: number) =>
  new RangeCommand("mprotect", 0, 0, range(region, pages), prot);

function run(w: World, r: Real, ...cmds: VmCommand[]): void {
  for (const c of cmds) {
    if (!c.check(w)) throw new Error(`precondition of ${c.toString()} does not hold`);
    c.run(w, r);
  }
}

const accepted = (r: Real) => r.transcript.filter((l) => l.includes("under memory pressure (accepted"));

/**
 * The sequence every system runs: a 256-page region and a 4-page one with 2 pages locked; under
 * held pressure mlock of the big region, mlockall(MCL_CURRENT|MCL_FUTURE), mprotect of a 256-page
 * PROT_NONE region to read/write, and a 256-page MAP_WIRED mmap all fail and are unwound; after
 * relief the old lock is still there, nothing else is locked, MCL_FUTURE is in force, and every
 * byte and the kernel's wired-page count agree with the model.
 */
function wiringUnderPressure(sys: System): Real {
  const { model: w, real: r } = setup(sys);
  run(w, r, mmap(BIG, RW), mmap(4, RW), mlock(0, 2));
  run(w, r, new PressureCommand(0));
  expect(w.pressure).toBe(true);
  // mlock of the big region (region 1, the oldest): ENOMEM, nothing newly locked...
  run(w, r, mlock(1, BIG));
  expect(w.model.wiredVpns(w.root).size).toBe(2);
  // ...as munlock shows on both sides: its first page is not locked (ENOMEM).
  run(w, r, munlock(1, 1));
  // mlockall: EAGAIN, the new locks unwound, MCL_FUTURE kept.
  run(w, r, new MlockallCommand(0, 0, MCL_CURRENT | MCL_FUTURE));
  expect(w.model.proc(w.root).wireFuture).toBe(true);
  expect(w.model.wiredVpns(w.root).size).toBe(2);
  // Under MCL_FUTURE a PROT_NONE mapping is not wired; raising it must wire it, and cannot.
  run(w, r, mmap(BIG, PROT_NONE), mprotect(0, BIG, RW));
  expect(w.model.wiredVpns(w.root).size).toBe(2);
  // A MAP_WIRED mapping that cannot be wired is not made.
  run(w, r, mmap(BIG, RW, true));
  run(w, r, new PressureCommand(null));
  // After relief MCL_FUTURE wires a new mapping on both sides; every readable byte agrees; the
  // kernel's wired-page count falls by exactly the model's 2 + 2 locked pages at munlockall.
  run(w, r, mmap(2, RW), new VerifyCommand(0, 0), new UnwireAllCommand());
  return r;
}

describe("the acceptance, against the fake system", () => {
  const fake = (shortage: WireShortage) => fakeSystem({ machine: "i386-pae", wireShortage: shortage });

  it("a kernel that fails with the BSDs' errnos and unwinds agrees with the model", () => {
    const r = wiringUnderPressure(fake({}));
    expect(accepted(r)).toHaveLength(4);
  });

  it("mlock answering EAGAIN under pressure (the simulated kernel's old answer) is a mismatch", () => {
    expect(() => wiringUnderPressure(fake({ mlock: "EAGAIN" }))).toThrow(/mlock\(.*expected success, got EAGAIN/);
  });

  it("mlockall answering ENOMEM under pressure is a mismatch", () => {
    expect(() => wiringUnderPressure(fake({ mlockall: "ENOMEM" }))).toThrow(
      /mlockall\(3\).*expected success, got ENOMEM/,
    );
  });

  it("mprotect answering EINVAL under pressure is a mismatch", () => {
    expect(() => wiringUnderPressure(fake({ mprotect: "EINVAL" }))).toThrow(/mprotect\(.*expected success, got EINVAL/);
  });

  it("mmap(MAP_WIRED) answering EAGAIN under pressure is a mismatch", () => {
    expect(() => wiringUnderPressure(fake({ mmap: "EAGAIN" }))).toThrow(/mmap\(.*expected success, got EAGAIN/);
  });

  it("a failed mlock that leaves its pages locked is caught by the next munlock", () => {
    const sys = fake({ noRollback: true });
    const { model: w, real: r } = setup(sys);
    run(w, r, mmap(8, RW), new PressureCommand(0), mlock(0, 8));
    expect(() => run(w, r, munlock(0, 1))).toThrow(/munlock\(.*expected ENOMEM \(page .* is not locked\), got ok/);
  });

  it("a failed mprotect that leaves every raised page wired is caught by the probe", () => {
    const sys = fake({ noRollback: true });
    const { model: w, real: r } = setup(sys);
    run(w, r, new MlockallCommand(0, 0, MCL_FUTURE), mmap(8, PROT_NONE), new PressureCommand(0));
    expect(() => run(w, r, mprotect(0, 8, RW))).toThrow(/the failed wiring was not undone/);
  });

  it("without held pressure the same failure is a mismatch", () => {
    const sys = fake({});
    const { model: w, real: r } = setup(sys);
    run(w, r, mmap(8, RW));
    sys.memoryPressure(1); // held behind the model's back: World.pressure stays false
    expect(w.pressure).toBe(false);
    expect(() => run(w, r, mlock(0, 8))).toThrow(/mlock\(.*expected success, got ENOMEM/);
  });

  it("a call with nothing new to wire may not fail, even under pressure", () => {
    const sys = fake({ mlock: "ENOMEM" });
    const { model: w, real: r } = setup(sys);
    run(w, r, mmap(8, RW), mlock(0, 8), new PressureCommand(0));
    // Already locked: the fake succeeds (nothing new), and the model requires it.
    run(w, r, mlock(0, 8));
    expect(accepted(r)).toHaveLength(0);
  });
});

type Parts = Pick<SystemOptions, "machine" | "pmap" | "vm">;

/** Parts imported by path: conformance depends on no concrete part (the VM packages' tests import it). */
async function parts(): Promise<Record<string, () => Parts>> {
  const hw386 = await import("@vmlab/hw-i386" as string);
  const hw64 = await import("@vmlab/hw-amd64" as string);
  const machPmap = (await import("@vmlab/pmap-mach" as string)).machPmap;
  const machVm = (await import("@vmlab/vm-mach" as string)).machVm;
  const cranorPmap = (await import("../../pmap-cranor/src/index.ts" as string)).cranorPmap;
  const uvm = (await import("../../vm-uvm/src/index.ts" as string)).uvm;
  const freebsdPmap = (await import("../../pmap-freebsd/src/index.ts" as string)).freebsdPmap;
  const freebsdVm = (await import("../../vm-freebsd/src/index.ts" as string)).freebsdVm;
  const spec = { memoryMiB: 32, cpus: 2 };
  return {
    "i386-pae mach/mach": () => ({ machine: hw386.i386Pae(spec), pmap: machPmap(), vm: machVm() }),
    "i386 cranor/uvm": () => ({ machine: hw386.i386(spec), pmap: cranorPmap(), vm: uvm() }),
    "amd64 freebsd/freebsd": () => ({ machine: hw64.amd64(spec), pmap: freebsdPmap(), vm: freebsdVm() }),
  };
}

const SYSTEMS = await parts();

describe.each(Object.keys(SYSTEMS))("wiring under held pressure on %s", (name) => {
  const boot = () => createSystem({ ...SYSTEMS[name]!(), seed: 1 });

  it("mlock, mlockall, mprotect under MCL_FUTURE and MAP_WIRED fail as the BSDs do; kernel and model agree after", () => {
    const r = wiringUnderPressure(boot());
    expect(accepted(r).map((l) => l.replace(/^\[\d+\] /, "").replace(/\(0x[0-9a-f]+, /, "("))).toEqual([
      expect.stringMatching(/^mlock\(0x100000\) → ENOMEM/),
      expect.stringMatching(/^mlockall\(3\) → EAGAIN/),
      expect.stringMatching(/^mprotect\(0x100000, RW\) → ENOMEM .* found \d+ of 256 raised pages wired/),
      expect.stringMatching(/^mmap\(0x100000, RW, 0x\w+, -1, 0\) → ENOMEM/),
    ]);
  }, 120_000);

  it("the same failed mlock without the model knowing of the pressure is a mismatch", () => {
    const sys = boot();
    const { model: w, real: r } = setup(sys);
    run(w, r, mmap(BIG, RW));
    sys.memoryPressure(sys.vm.freePages);
    expect(w.pressure).toBe(false);
    expect(() => run(w, r, mlock(0, BIG))).toThrow(/mlock\(.*expected success, got ENOMEM/);
  }, 120_000);
});
