import { describe, expect, it } from "vitest";
import { computeMetrics, METRICS, PeakTracker } from "../src/metrics.js";

describe("the metrics table", () => {
  it("names each metric once, with its sources and providers written down", () => {
    const names = METRICS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const m of METRICS) {
      expect(m.sources.length, m.name).toBeGreaterThan(0);
      expect(m.providers.length, m.name).toBeGreaterThan(0);
      if (m.kind === "total" || m.kind === "peak") expect(m.read, m.name).toBeTypeOf("function");
      if (m.kind === "derived") expect(m.derive, m.name).toBeTypeOf("function");
    }
  });

  it("maps counters to stable names: totals are the change over the workload", () => {
    const before = { "cpu.cycles": 1000, "tlb.miss": 10, "vm.fault.zerofill": 0, "pmap.window.switch": 3 };
    const after = { "cpu.cycles": 5000, "tlb.miss": 60, "vm.fault.zerofill": 7, "pmap.window.switch": 5 };
    const m = computeMetrics(before, after, {}, { "sim.ops": 100, "host.ms": 50 });
    expect(m["sim.cycles"]).toBe(4000);
    expect(m["tlb.miss"]).toBe(50);
    expect(m["fault.zerofill"]).toBe(7);
    expect(m["window.switch"]).toBe(2);
    expect(m["sim.cycles_per_op"]).toBe(40);
    expect(m["host.ops_per_sec"]).toBe(2000);
  });

  it("reports a metric whose counters a part does not register as absent, not 0", () => {
    const s = { "cpu.cycles": 10, "tlb.miss": 0 };
    const m = computeMetrics(s, s, {}, { "sim.ops": 1, "host.ms": 1 });
    expect(m["tlb.miss"]).toBe(0);
    expect("window.switch" in m).toBe(false);
    expect("pv.alloc" in m).toBe(false);
    expect("vm.amaps.peak" in m).toBe(false);
    // A derived metric whose inputs are absent or zero is absent too.
    expect("walk.levels_per_miss" in m).toBe(false);
  });

  it("keeps the largest value of each gauge over the samples (live = alloc − free)", () => {
    const p = new PeakTracker();
    p.sample({ "pmap.pv.alloc": 10, "pmap.pv.free": 2, "pmap.pvpage.alloc": 1, "pmap.pvpage.free": 0 });
    p.sample({ "pmap.pv.alloc": 300, "pmap.pv.free": 40, "pmap.pvpage.alloc": 3, "pmap.pvpage.free": 0 });
    p.sample({ "pmap.pv.alloc": 310, "pmap.pv.free": 310, "pmap.pvpage.alloc": 3, "pmap.pvpage.free": 3 });
    expect(p.peaks["pv.live.peak"]).toBe(260);
    expect(p.peaks["pv.bytes.peak"]).toBe(3 * 4096);
    const m = computeMetrics({}, {}, p.peaks, {});
    expect(m["pv.bytes_per_entry"]).toBeCloseTo((3 * 4096) / 260, 6);
    expect("vm.shadow_depth.peak" in m).toBe(false);
  });

  it("orders a cell's metrics as the table does, workload extras last", () => {
    const m = computeMetrics({ "cpu.cycles": 0 }, { "cpu.cycles": 1 }, {}, { zz: 1, "host.ms": 1, "sim.ops": 1 });
    const keys = Object.keys(m);
    expect(keys[0]).toBe("sim.cycles");
    expect(keys[keys.length - 1]).toBe("zz");
  });
});
