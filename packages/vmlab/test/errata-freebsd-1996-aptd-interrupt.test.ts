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
import { describe, expect, it } from "vitest";
import { errata } from "../src/errata/index.js";
import { combinations, createSystem } from "../src/index.js";

// Not imported from the entry file: importing an entry before the catalogue is a cycle.
const ID = "freebsd-1996-aptd-interrupt";
const APTD_PANIC = "panic: double fault";

const applicable = combinations().filter((c) => errata.erratum(ID).applies(c).applies);

/**
 * The erratum needs both halves: the VM's interrupt-time page rundown (vm-freebsd) and the Mach
 * pmap's 1995 pmap_enter that looks the PTE up through APTmap outside splvm (pmap-mach `enter1995`).
 */

describe(ID, () => {
  it("applies to the FreeBSD VM on the Mach pmap only, on every machine", () => {
    for (const c of combinations()) {
      const a = errata.erratum(ID).applies(c);
      expect(a.applies, `${c.machine}/${c.pmap}/${c.vm}`).toBe(c.vm === "freebsd" && c.pmap === "mach");
      expect(a.why.length).toBeGreaterThan(20);
    }
    expect(applicable.length).toBe(3);
  });

  for (const c of applicable) {
    const name = `${c.machine}/${c.pmap}/${c.vm}`;
    it(`${name}: on — a fork's u-area lands in the writer's page table, ${APTD_PANIC}`, () => {
      const r = errata.reproduce(ID, c, { enabled: true });
      expect(r.reproduced, r.detail).toBe(true);
      expect(r.panic).toBe(APTD_PANIC);
      expect(r.detail).toMatch(/parent forks child/);
    });
    it(`${name}: off — every step completes, audit clean`, () => {
      const r = errata.reproduce(ID, c, { enabled: false });
      expect(r.detail).toMatch(/steps completed cleanly/);
      expect(r.reproduced).toBe(false);
    });
  }

  it("with the erratum on, biodone runs pmap_page_protect at interrupt time on mapped pages", () => {
    const sys = createSystem({
      ...errata.erratum(ID).reproducer.options,
      machine: "i386",
      pmap: "mach",
      vm: "freebsd",
      errata: [ID],
    });
    const w = sys.spawn();
    const fd = w.open("/f", O_CREAT | O_RDWR);
    w.ftruncate(fd, 2 * PAGE_SIZE);
    const a = w.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    w.writeBytes(a, new Uint8Array([1]));
    w.writeBytes(a + PAGE_SIZE, new Uint8Array([2]));
    w.msync(a, 2 * PAGE_SIZE, MS_ASYNC);
    // The writes are in flight and the pages are still mapped: a store goes straight to them.
    expect(sys.stats()["vm.biodone.page_protect"] ?? 0).toBe(0);
    w.writeBytes(a, new Uint8Array([3]));
    sys.advance(100_000);
    expect(sys.stats()["vm.biodone.page_protect"]).toBe(2);
    // The rundown harvested the modified bit: the store made during the write is not lost —
    // the page is written again, and re-read from the file after invalidation it holds it.
    const before = sys.stats()["vm.pageout"] ?? 0;
    w.msync(a, 2 * PAGE_SIZE, MS_SYNC | MS_INVALIDATE);
    expect(sys.stats()["vm.pageout"]).toBe(before + 1);
    expect(w.readBytes(a, 1)[0]).toBe(3);
    sys.audit();
  });

  it("createSystem rejects the erratum on an immune combination", () => {
    expect(() => createSystem({ machine: "i386", pmap: "freebsd", vm: "freebsd", errata: [ID] })).toThrow(
      /pmap_pte_quick/,
    );
    expect(() => createSystem({ machine: "amd64", pmap: "mach", vm: "mach", errata: [ID] })).toThrow(/Mach VM/);
  });
});
