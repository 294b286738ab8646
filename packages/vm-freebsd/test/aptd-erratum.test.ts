/**
 * Erratum freebsd-1996-aptd-interrupt, the VM half (seed 000): where the pages of a write are
 * run down. Default (the 1996 fix, vfs_busy_pages): every mapping goes before the write starts and
 * biodone makes no pmap call. Erratum: the pages stay mapped during the write and biodone runs
 * pmap_page_protect(VM_PROT_NONE) on them at interrupt time (IPL_BIO).
 */
import {
  MAP_SHARED,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  O_CREAT,
  O_RDWR,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from "@vmlab/core";
import { i386 } from "@vmlab/hw-i386";
import { createSystem, type Process, type System } from "@vmlab/kernel";
import { machPmap } from "@vmlab/pmap-mach";
import { describe, expect, it } from "vitest";
import { freebsdVm } from "../src/index.js";

const ID = "freebsd-1996-aptd-interrupt";
const PAGES = 3;

function system(errata: readonly string[]): System {
  return createSystem({
    machine: i386({ memoryMiB: 32, cpus: 1 }),
    pmap: machPmap(),
    vm: freebsdVm(),
    auditEveryOp: true,
    seed: 1,
    errata,
    // A slow disk: the writes are still in flight when msync returns.
    disk: { seek: 500_000, transfer: 500, jitter: 0 },
  });
}

/** A writer with a dirty MAP_SHARED mapping of a PAGES-page file; msync(MS_ASYNC) started. */
function startWrites(sys: System): { w: Process; a: number; intr: number } {
  const w = sys.spawn();
  const fd = w.open("/f", O_CREAT | O_RDWR);
  w.ftruncate(fd, PAGES * PAGE_SIZE);
  const a = w.mmap(0, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  for (let i = 0; i < PAGES; i++) w.writeBytes(a + i * PAGE_SIZE, new Uint8Array([10 + i]));
  const faults = sys.stats()["vm.fault"] ?? 0;
  const intr = interrupts(sys);
  w.msync(a, PAGES * PAGE_SIZE, MS_ASYNC);
  expect(sys.stats()["vm.fault"] ?? 0).toBe(faults);
  // The writes are in flight: none has completed yet.
  expect(interrupts(sys)).toBe(intr);
  return { w, a, intr };
}

const stat = (sys: System, name: string): number => sys.stats()[name] ?? 0;
/** Completion interrupts of every disk so far (hole reads complete by interrupt too). */
const interrupts = (sys: System): number =>
  Object.entries(sys.stats())
    .filter(([k]) => /^disk\..*\.intr$/.test(k))
    .reduce((n, [, v]) => n + v, 0);

describe(`${ID}: where the pages of a write are run down`, () => {
  it("fixed (default): the mappings go before the write starts; biodone makes no pmap call", () => {
    const sys = system([]);
    const { w, a, intr } = startWrites(sys);
    // Unmapped: touching a page under I/O faults again (and waits for the write).
    const faults = stat(sys, "vm.fault");
    w.readBytes(a, 1);
    expect(stat(sys, "vm.fault")).toBe(faults + 1);
    sys.advance(5_000_000);
    expect(interrupts(sys)).toBeGreaterThanOrEqual(intr + PAGES);
    expect(stat(sys, "vm.biodone.page_protect")).toBe(0);
    sys.audit();
  });

  it("erratum: the pages stay mapped during the write; biodone runs them down at interrupt time", () => {
    const sys = system([ID]);
    const { w, a, intr } = startWrites(sys);
    // Still mapped and writable: a store during the write takes no fault.
    const faults = stat(sys, "vm.fault");
    w.writeBytes(a, new Uint8Array([99]));
    expect(stat(sys, "vm.fault")).toBe(faults);
    expect(stat(sys, "vm.biodone.page_protect")).toBe(0);
    sys.advance(5_000_000);
    expect(interrupts(sys)).toBeGreaterThanOrEqual(intr + PAGES);
    expect(stat(sys, "vm.biodone.page_protect")).toBe(PAGES);
    // Run down: the next touch faults the page back in.
    w.readBytes(a + PAGE_SIZE, 1);
    expect(stat(sys, "vm.fault")).toBe(faults + 1);
    // The store made during the write was harvested from the PTE: the page is dirty again and
    // the next msync writes exactly it; after invalidation the file holds 99.
    const outs = stat(sys, "vm.pageout");
    w.msync(a, PAGES * PAGE_SIZE, MS_SYNC | MS_INVALIDATE);
    expect(stat(sys, "vm.pageout")).toBe(outs + 1);
    expect(w.readBytes(a, 1)[0]).toBe(99);
    sys.audit();
  });
});
