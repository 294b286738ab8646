/**
 * VmLayer.entries (vm_inspect.ts): the map as the process sees it — anonymous, file-less private
 * and wired entries, the kernel's UPT region, and MAP_SHARED regions that became sharing maps at
 * fork, flattened to process addresses with the main entry's protection — and the
 * vm.map.entries gauge.
 */
import { INHERIT_SHARE, KERN_SUCCESS, PAGE_SIZE, Prot } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import type { MachSpace } from "../src/vm_glue.js";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;

describe("entries(): the process's view of its map", () => {
  it("lists anonymous, wired and kernel entries in address order; the gauge counts them", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 4 * P);
    const b = t.mmap(p, 2 * P, { prot: Prot.Read, maxProt: RW, wired: true });
    const es = t.vm.entries(p);
    expect(es.map((e) => e.start)).toEqual([...es.map((e) => e.start)].sort((x, y) => x - y));
    expect(es).toContainEqual({
      start: a,
      end: a + 4 * P,
      prot: RW,
      maxProt: expect.any(Number),
      inheritance: expect.any(Number),
      wired: false,
      shared: false,
      backing: "anon",
    });
    expect(es).toContainEqual(expect.objectContaining({ start: b, end: b + 2 * P, prot: Prot.Read, wired: true }));
    const upt = es.filter((e) => e.backing === "kernel");
    expect(upt).toHaveLength(t.vm.layout.uptMin < t.vm.layout.uptMax ? 1 : 0);
    expect(t.stat("vm.map.entries")).toBe((p as MachSpace).map.nentries);
    t.fork(p);
    expect(t.stat("vm.map.entries")).toBe(2 * (p as MachSpace).map.nentries);
  });

  it("flattens a sharing map: each process sees the shared range with its own protection", () => {
    const t = new TestSystem();
    const p = t.spawn();
    const a = t.mmap(p, 4 * P, { shared: true });
    t.fillPages(p, a, 4 * P, 7);
    const c = t.fork(p);
    expect((p as MachSpace).map.lookupEntry(a).shareMap).not.toBeNull();
    expect(t.vm.protect(c, a + P, P, Prot.Read, false)).toBe(KERN_SUCCESS);
    const user = (s: typeof p) => t.vm.entries(s).filter((e) => e.backing !== "kernel");
    expect(user(p)).toEqual([
      {
        start: a,
        end: a + 4 * P,
        prot: RW,
        maxProt: expect.any(Number),
        inheritance: INHERIT_SHARE,
        wired: false,
        shared: true,
        backing: "anon",
      },
    ]);
    expect(user(c).map((e) => [e.start, e.end, e.prot, e.shared])).toEqual([
      [a, a + P, RW, true],
      [a + P, a + 2 * P, Prot.Read, true],
      [a + 2 * P, a + 4 * P, RW, true],
    ]);
    t.audit();
  });
});
