/**
 * runBench bound to the registry: real systems at a tiny scale (every workload runs and checks
 * its data; metrics present; simulated cycles repeat exactly for a seed; the JSON shape of
 * API.md), and the qualitative expectations on the parts registered so far — an expectation
 * whose parts are not registered yet is skipped with the reason in its name.
 */
import { EXPECTATIONS, evaluateExpectations, METRICS, WORKLOADS } from "@vmlab/bench";
import { describe, expect, it } from "vitest";
import { type Combination, combinations, PMAPS, runBench, selectCombinations, VMS } from "../src/index.js";

const TWO: Combination[] = [
  { machine: "i386", pmap: "mach", vm: "mach" },
  { machine: "amd64", pmap: "cranor", vm: "mach" },
];

/** Metrics other than host measurements (those vary between runs). */
const simulated = (m: Record<string, number>) =>
  Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith("host.")));

describe("runBench on the registry", () => {
  it("runs every workload on two combinations; figures present, data checked, same numbers for the same seed", async () => {
    const a = await runBench({ combinations: TWO, scale: 1, seed: 7 });
    expect(a.results).toHaveLength(TWO.length * WORKLOADS.length);
    for (const r of a.results) {
      expect(r.error, `${r.machine}/${r.pmap}/${r.vm} ${r.workload}`).toBeUndefined();
      for (const k of ["sim.cycles", "sim.ops", "host.ms", "tlb.miss", "fault.vm", "fault.zerofill", "window.switch"]) {
        expect(r.metrics[k], `${r.workload} ${k}`).toBeTypeOf("number");
      }
      expect(r.metrics["sim.cycles"]).toBeGreaterThan(0);
      for (const k of Object.keys(r.metrics)) expect(Number.isFinite(r.metrics[k])).toBe(true);
    }
    const b = await runBench({ combinations: TWO, scale: 1, seed: 7 });
    expect(b.results.map((r) => simulated(r.metrics))).toEqual(a.results.map((r) => simulated(r.metrics)));
    const c = await runBench({ combinations: TWO.slice(0, 1), workloads: ["random-touch"], scale: 1, seed: 8 });
    const a0 = a.results.find((r) => r.workload === "random-touch");
    expect(c.results[0]?.metrics["sim.cycles"]).not.toBe(a0?.metrics["sim.cycles"]);
  }, 300_000);

  it("has the JSON shape of API.md", async () => {
    const rep = await runBench({
      machine: "i386",
      pmap: "mach",
      vm: "mach",
      workloads: ["seq-touch", "fork-cow"],
      scale: 1,
    });
    const json = JSON.parse(JSON.stringify(rep)) as { results: Record<string, unknown>[] };
    expect(json.results).toHaveLength(2);
    for (const r of json.results) {
      expect(Object.keys(r).sort()).toEqual(
        ["hostMs", "machine", "metrics", "pmap", "vm", "workload", ...("audit" in r ? ["audit"] : [])].sort(),
      );
      expect(r).toMatchObject({ machine: "i386", pmap: "mach", vm: "mach" });
      expect(typeof r.hostMs).toBe("number");
      const metrics = r.metrics as Record<string, unknown>;
      for (const v of Object.values(metrics)) expect(typeof v).toBe("number");
      // Every key is a metric of the table (workload-specific figures included there).
      for (const k of Object.keys(metrics))
        expect(
          METRICS.some((m) => m.name === k),
          k,
        ).toBe(true);
    }
    expect(json.results.map((r) => r.workload)).toEqual(["seq-touch", "fork-cow"]);
  }, 120_000);

  it("works over whatever combinations() lists, and filters it by name", () => {
    expect(selectCombinations({})).toEqual(combinations());
    expect(selectCombinations({ machine: "amd64", pmap: "all" }).every((c) => c.machine === "amd64")).toBe(true);
    expect(() => selectCombinations({ machine: "vax" })).toThrow(/machine/);
  });
});

describe.each(EXPECTATIONS.map((e) => [e.id, e] as const))("expectation %s", (_id, e) => {
  const missing = [
    ...(e.needs.pmap ?? []).filter((p) => !(p in PMAPS)).map((p) => `pmap ${p}`),
    ...(e.needs.vm ?? []).filter((v) => !(v in VMS)).map((v) => `vm ${v}`),
  ];
  const name = missing.length
    ? `${e.title} — skipped: ${missing.join(", ")} not registered yet`
    : `${e.title} (${e.source})`;
  it.skipIf(missing.length > 0)(
    name,
    async () => {
      const rep = await runBench({ workloads: [...e.workloads], scale: Math.max(2, e.minScale ?? 0), seed: 1 });
      const out = evaluateExpectations(rep).find((x) => x.id === e.id);
      expect(out?.status, out?.detail).toBe("pass");
    },
    600_000,
  );
});
