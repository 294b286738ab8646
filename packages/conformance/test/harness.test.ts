import { describe, expect, it } from "vitest";
import { windowFor } from "../src/commands.js";
import { ERRNO_TABLES, PROPERTIES, runProperties, runScenarios, SCENARIOS } from "../src/index.js";
import { type FakeBug, fakeSystem } from "./support/fake-system.js";

describe("harness against a model-backed fake system", () => {
  for (const machine of ["i386", "i386-pae", "amd64"] as const) {
    it(`every property passes on a faithful fake (${machine})`, () => {
      const r = runProperties(() => fakeSystem({ machine }), { runs: 25, commands: 40, seed: 7 });
      expect(r.failures.map((f) => f.message)).toEqual([]);
      expect(r.passed).toBe(PROPERTIES.length);
      expect(r.runs).toBe(PROPERTIES.reduce((n, p) => n + Math.max(1, Math.round(25 * (p.share ?? 1))), 0));
    });

    it(`every scenario passes on a faithful fake: the tables agree with the model (${machine})`, () => {
      const r = runScenarios(() => fakeSystem({ machine }), { forkHeavyPages: 60 });
      const bad = r.results.filter((x) => !x.passed).map((x) => `${x.name}\n${x.detail}`);
      expect(bad).toEqual([]);
      expect(r.passed).toBe(SCENARIOS.length);
    });
  }

  it("fork-heavy reports the shadow-depth statistic", () => {
    const r = runScenarios(() => fakeSystem(), { names: ["fork-heavy"], forkHeavyPages: 30 });
    expect(r.results[0]?.stats?.["vm.object.shadow_depth.max"]).toBe(3);
    expect(r.results[0]?.detail).toContain("vm.object.shadow_depth.max = 3");
  });

  const caught: [FakeBug, string][] = [
    ["fork-shares-private", "model: fork, copy-on-write and inheritance"],
    ["munlock-unlocked-ok", "model: wiring"],
    ["panic-on-invalidate", "model: every call and access"],
    ["audit-after-mlockall", "model: wiring"],
    ["mmap-overlaps", "model: every call and access"],
  ];
  for (const [bug, property] of caught) {
    it(`catches the injected bug "${bug}" with a seed, a shrunk command list and a replay token`, () => {
      const factory = () => fakeSystem({ bugs: [bug] });
      const r = runProperties(factory, { runs: 200, commands: 50, seed: 42, properties: [property] });
      expect(r.failed).toBe(1);
      const f = r.failures[0]!;
      expect(f.name).toBe(property);
      expect(f.message).toContain(`seed: ${f.seed}`);
      expect(f.message).toContain("Counterexample: [");
      expect(f.replay).not.toBe("");
      // The replay token reruns exactly the shrunk case.
      const again = runProperties(factory, {
        runs: 1,
        commands: 50,
        seed: f.seed,
        replay: f.replay,
        properties: [property],
      });
      expect(again.failed).toBe(1);
      expect(again.failures[0]?.replay).toBe(f.replay);
    });
  }

  it("errno tables and ATF scenarios catch an implementation that lets munlock of unlocked memory succeed", () => {
    const r = runScenarios(() => fakeSystem({ bugs: ["munlock-unlocked-ok"] }), { forkHeavyPages: 60 });
    const failed = r.results.filter((x) => !x.passed).map((x) => x.name);
    expect(failed).toEqual(
      expect.arrayContaining([
        "errno: munlock",
        "atf: t_mlock mlock_err",
        "atf: t_mlock mlock_nested",
        "atf: t_mlock mlock_clip",
        "wiring: mlock, read() into the locked buffer, munlock",
      ]),
    );
    const table = r.results.find((x) => x.name === "errno: munlock")!;
    expect(table.detail).toMatch(/FAIL munlock: never locked .*expected ENOMEM, got ok/);
  });

  it("a panic fails its errno-table case and the table goes on with a new system", () => {
    const r = runScenarios(() => fakeSystem({ bugs: ["panic-on-invalidate"] }), { names: ["errno: msync"] });
    const d = r.results[0]!.detail;
    expect(r.results[0]!.passed).toBe(false);
    expect(d).toMatch(
      /FAIL msync: MS_INVALIDATE on locked pages .*kernel panic: KernelPanic: panic: vm_object_page_remove/,
    );
    expect(d).toMatch(/ok {3}msync: MS_SYNC/);
  });

  it("every errno table case names its source", () => {
    for (const t of ERRNO_TABLES) for (const c of t.cases) expect(c.source.length).toBeGreaterThan(0);
  });

  it("the MAP_FIXED/wild window straddles a page-table boundary", () => {
    const i386 = windowFor(0x1000, 0xfdbf_e000, "i386");
    expect((i386 + 32 * 4096) % 2 ** 22).toBe(0);
    const amd64 = windowFor(0x1000, 0x7f7f_ffff_e000, "amd64");
    expect((amd64 + 32 * 4096) % 2 ** 39).toBe(0);
    // A range too small for any boundary falls back to a quarter of the way up.
    expect(windowFor(0x1000, 0x20_0000, "i386")).toBe(0x1000 + 0x7f000);
  });
});
