import { describe, expect, it } from "vitest";
import { Counter, Counters } from "../src/index.js";

describe("Counters", () => {
  it("counter(name) returns one handle per name, created at zero", () => {
    const c = new Counters();
    const miss = c.counter("tlb.miss");
    expect(miss).toBeInstanceOf(Counter);
    expect(miss.name).toBe("tlb.miss");
    expect(miss.value).toBe(0);
    expect(c.counter("tlb.miss")).toBe(miss);
    expect(c.counter("tlb.hit")).not.toBe(miss);
  });

  it("handles, inc, add and get agree", () => {
    const c = new Counters();
    const enter = c.counter("pmap.enter");
    enter.inc();
    enter.inc(4);
    enter.value++;
    c.add("pmap.enter");
    c.add("pmap.enter", 10);
    c.add("pv.alloc", 2);
    expect(enter.value).toBe(17);
    expect(c.get("pmap.enter")).toBe(17);
    expect(c.get("pv.alloc")).toBe(2);
    expect(c.counter("pv.alloc").value).toBe(2);
  });

  it("get of an unknown counter is 0 and does not create it", () => {
    const c = new Counters();
    expect(c.get("vm.fault.cow")).toBe(0);
    expect(c.snapshot()).toEqual({});
  });

  it("sources are merged into the snapshot, read live each time", () => {
    const c = new Counters();
    c.add("pmap.enter", 3);
    const perCpu = [5, 7];
    c.addSource((out) => {
      out["tlb.miss"] = (perCpu[0] ?? 0) + (perCpu[1] ?? 0);
    });
    c.addSource((out) => {
      out["ipi.shootdown"] = 1;
    });
    expect(c.snapshot()).toEqual({ "ipi.shootdown": 1, "pmap.enter": 3, "tlb.miss": 12 });
    expect(c.get("tlb.miss")).toBe(12);
    perCpu[1] = 100;
    expect(c.get("tlb.miss")).toBe(105);
  });

  it("a source sees the handle counters and may add to them", () => {
    const c = new Counters();
    c.add("tlb.miss", 2);
    c.addSource((out) => {
      out["tlb.miss"] = (out["tlb.miss"] ?? 0) + 40;
    });
    expect(c.get("tlb.miss")).toBe(42);
  });

  it("snapshot keys are sorted by name", () => {
    const c = new Counters();
    for (const n of ["vm.fault.zerofill", "ipi.shootdown", "tlb.miss", "pmap.enter", "pmap.enter.wired"]) c.add(n);
    c.addSource((out) => {
      out["a.first"] = 0;
      out["zz.last"] = 0;
    });
    expect(Object.keys(c.snapshot())).toEqual([
      "a.first",
      "ipi.shootdown",
      "pmap.enter",
      "pmap.enter.wired",
      "tlb.miss",
      "vm.fault.zerofill",
      "zz.last",
    ]);
  });

  it("reset zeroes every handle; handles stay live afterwards", () => {
    const c = new Counters();
    const miss = c.counter("tlb.miss");
    miss.inc(9);
    c.add("pmap.enter", 4);
    c.reset();
    expect(c.snapshot()).toEqual({ "pmap.enter": 0, "tlb.miss": 0 });
    miss.inc();
    expect(c.get("tlb.miss")).toBe(1);
  });
});
