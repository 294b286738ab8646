import { describe, expect, it } from "vitest";
import { EXPECTATIONS, evaluateExpectations } from "../src/index.js";
import { syntheticReport } from "./support.js";

const byId = (r: ReturnType<typeof evaluateExpectations>, id: string) => r.find((e) => e.id === id);

describe("expectations on a report", () => {
  it("Cranor vs Mach window flushes: pass when Cranor flushes less on every machine", () => {
    const rep = syntheticReport(["fork-cow"], (c) => ({ "window.flush": c.pmap === "cranor" ? 6 : 15 }));
    const e = byId(evaluateExpectations(rep), "cranor-window-flushes");
    expect(e?.status).toBe("pass");
    expect(e?.detail).toContain("i386/mach: 6 (cranor) vs 15 (mach)");
    expect(e?.detail).toContain("amd64/mach");
  });

  it("fails, naming the pair, when one machine disagrees", () => {
    const rep = syntheticReport(["fork-cow"], (c) => ({
      "window.flush": c.pmap === "cranor" ? (c.machine === "amd64" ? 40 : 6) : 15,
    }));
    const e = byId(evaluateExpectations(rep), "cranor-window-flushes");
    expect(e?.status).toBe("fail");
    expect(e?.detail).toContain("NOT: amd64/mach: 40 (cranor) vs 15 (mach)");
  });

  it("is n/a (not a pass) when the parts or the workload are missing, and says which", () => {
    const rep = syntheticReport(["seq-touch"], () => ({ "sweep.tlb.miss": 100 }));
    const out = evaluateExpectations(rep);
    expect(byId(out, "superpage-sweeps")).toMatchObject({
      status: "n/a",
      detail: "not in this run: pmap freebsd, vm freebsd",
    });
    expect(byId(out, "amaps-no-shadow-chains")?.detail).toBe("not in this run: vm uvm");
    expect(byId(out, "cranor-window-flushes")).toMatchObject({ status: "n/a", detail: "workload not run: fork-cow" });
    expect(out.map((e) => e.id)).toEqual(EXPECTATIONS.map((e) => e.id));
  });

  it("is n/a with the error when the cells it needs failed", () => {
    const rep = syntheticReport(["fork-cow"], () => undefined);
    const e = byId(evaluateExpectations(rep), "cranor-window-flushes");
    expect(e?.status).toBe("n/a");
    expect(e?.detail).toContain("failed: SyscallError");
  });
});
