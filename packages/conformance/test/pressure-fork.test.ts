/**
 * fork(2) under held memory pressure with wired memory (decision 0011). A child inherits copies
 * of its parent's wired regions made at once (vm_fault_copy_entry, amap_cow_now), plus a u-area
 * and page tables; the kernel waits for that memory as the BSDs do (VM_WAIT, uvm_wait), and where
 * the wait can never end — nothing left to page out — fork fails with ENOMEM and leaves no child
 * (NetBSD fork1 when uvm_uarea_alloc fails, FreeBSD fork1 when vmspace_fork returns NULL). The
 * model accepts that ENOMEM only while pressure is held and some memory is user-wired.
 *
 * First the acceptance against the fake system; then the reproducers the matrix found, on whole
 * systems — each used to panic ("vm_fault_copy_entry: out of memory copying a region for fork",
 * "vm_fork: u-area page 0 of pid 2 is not mapped", "uvmspace_fork: out of memory in
 * amap_cow_now") — and, without swap, a fork that cannot get its memory at all.
 */
import { MCL_CURRENT, MCL_FUTURE, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import {
  ForkCommand,
  MlockallCommand,
  type MmapArgs,
  MmapCommand,
  type Placement,
  RangeCommand,
  type Real,
  setup,
  VerifyCommand,
  type World,
} from "../src/commands.js";
import { PressureCommand } from "../src/commands-io.js";
import { fakeSystem } from "./support/fake-system.js";
import { acceptedUnderPressure, bootSystem, runCommands } from "./support/parts.js";

const RW = PROT_READ | PROT_WRITE;

function mmap(pages: number, prot = RW, placement: Placement = "any", page = 0): MmapCommand {
  const a: MmapArgs = { p: 0, via: 0, pages, prot, shared: false, wired: false, placement, region: 0, page };
  return new MmapCommand(a);
}

const mlock = (pages: number) => new RangeCommand("mlock", 0, 0, { region: 0, page: 0, pages, shape: 0, slop: 0 }, 0);
const mprotect = (pages: number, prot: number) =>
  new RangeCommand("mprotect", 0, 0, { region: 0, page: 0, pages, shape: 0, slop: 0 }, prot);
const forkLines = (r: Real) => acceptedUnderPressure(r).filter((l) => l.includes("fork()"));

/**
 * After the fork: the parent's bytes (wired, resident) agree with the model while pressure is
 * held; after relief every process's do, and a new fork works. (A child's pages may have gone to
 * swap for want of memory, and faulting them back under held pressure with nothing pageable would
 * kill the largest process — out of swap — which the model does not follow.)
 */
function checkAfter(w: World, r: Real): void {
  runCommands(w, r, new VerifyCommand(0, 0));
  runCommands(w, r, new PressureCommand(null));
  for (let i = 0; i < w.model.live().length; i++) runCommands(w, r, new VerifyCommand(i, 0));
  // With the memory back, fork works, and the newest child reads its parent's bytes.
  const before = w.model.live().length;
  runCommands(w, r, new ForkCommand(0), new VerifyCommand(before, 0));
  expect(w.model.live().length).toBe(before + 1);
}

describe("the acceptance, against the fake system", () => {
  const fake = () => fakeSystem({ machine: "i386-pae", wireShortage: { fork: "ENOMEM" } });

  it("ENOMEM while pressure is held and memory is wired is accepted: no child, the parent intact", () => {
    const { model: w, real: r } = setup(fake());
    runCommands(w, r, mmap(8), mlock(8), new PressureCommand(0), new ForkCommand(0));
    expect(w.model.live()).toHaveLength(1);
    expect(forkLines(r)).toEqual([expect.stringMatching(/fork\(\) → ENOMEM under memory pressure/)]);
    checkAfter(w, r);
  });

  it("the same ENOMEM with no user memory wired is accepted too: the child's u-area and page tables are wired kernel memory, and held pressure leaves none", () => {
    const { model: w, real: r } = setup(fake());
    runCommands(w, r, mmap(8), new PressureCommand(0), new ForkCommand(0));
    expect(w.model.live()).toHaveLength(1);
    expect(forkLines(r)).toEqual([expect.stringMatching(/fork\(\) → ENOMEM under memory pressure/)]);
    checkAfter(w, r);
  });

  it("the same ENOMEM without held pressure is a mismatch", () => {
    const sys = fake();
    const { model: w, real: r } = setup(sys);
    runCommands(w, r, mmap(8), mlock(8));
    sys.memoryPressure(1); // behind the model's back: World.pressure stays false
    expect(() => runCommands(w, r, new ForkCommand(0))).toThrow(/fork\(\): expected success, got ENOMEM/);
  });

  it("another errno (EAGAIN, a process limit) under pressure is a mismatch", () => {
    const sys = fakeSystem({ machine: "i386-pae", wireShortage: { fork: "EAGAIN" } });
    const { model: w, real: r } = setup(sys);
    runCommands(w, r, mmap(8), mlock(8), new PressureCommand(0));
    expect(() => runCommands(w, r, new ForkCommand(0))).toThrow(/fork\(\): expected success, got EAGAIN/);
  });
});

describe("reproducers from the matrix, on whole systems", () => {
  // mlockall(MCL_FUTURE), hold pressure, map a and b pages (wired as they are made), fork.
  it.each([
    ["amd64 freebsd/freebsd", 5, 8],
    ["i386 freebsd/freebsd", 5, 8],
    // Used to panic: vm_fault_copy_entry: out of memory copying a region for fork.
    ["i386 freebsd/freebsd", 20, 16],
    // Used to panic: vm_fault_copy_entry: out of memory copying a wired region for fork.
    ["i386 mach/mach", 4, 16],
    // Used to panic: vm_fork: u-area page 0 of pid 2 is not mapped (the copies took the reserve).
    ["amd64 mach/mach", 2, 16],
    ["i386 cranor/uvm", 1, 64],
  ] as const)(
    "%s: MCL_FUTURE, pressure, %i + %i wired pages, fork",
    (name, a, b) => {
      const { model: w, real: r } = setup(bootSystem(name));
      runCommands(w, r, new MlockallCommand(0, 0, MCL_FUTURE), new PressureCommand(0), mmap(a), mmap(b));
      runCommands(w, r, new ForkCommand(0));
      checkAfter(w, r);
    },
    120_000,
  );

  // mlockall(MCL_CURRENT|MCL_FUTURE), 16 PROT_NONE pages, hold pressure, 5 of them to PROT_EXEC,
  // 7 read/write pages, 7 more MAP_FIXED in the window (across a page-table boundary), fork.
  it.each(["i386-pae mach/mach", "i386 mach/mach", "amd64 mach/mach", "amd64 cranor/mach"])(
    "%s: the mprotect / MAP_FIXED reproducer",
    (name) => {
      const { model: w, real: r } = setup(bootSystem(name));
      runCommands(w, r, new MlockallCommand(0, 0, MCL_CURRENT | MCL_FUTURE), mmap(16, PROT_NONE));
      runCommands(w, r, new PressureCommand(0), mprotect(5, PROT_EXEC), mmap(7), mmap(7, RW, "fixed-window", 31));
      runCommands(w, r, new ForkCommand(0));
      checkAfter(w, r);
    },
    120_000,
  );
});

describe("without swap a fork cannot get its copies: ENOMEM, nothing left behind", () => {
  it.each(["i386 mach/mach", "i386-pae freebsd/freebsd", "amd64 cranor/uvm"])(
    "%s: 256 wired pages, pressure, fork → ENOMEM; after relief fork works",
    (name) => {
      const sys = bootSystem(name, { swapMiB: 0 });
      const { model: w, real: r } = setup(sys);
      runCommands(w, r, new MlockallCommand(0, 0, MCL_CURRENT | MCL_FUTURE), mmap(256));
      const free = sys.vm.freePages;
      runCommands(w, r, new PressureCommand(0), new ForkCommand(0));
      expect(forkLines(r)).toHaveLength(1);
      expect(free).toBeGreaterThan(sys.vm.freePages);
      expect(w.model.live()).toHaveLength(1);
      checkAfter(w, r);
    },
    120_000,
  );
});
