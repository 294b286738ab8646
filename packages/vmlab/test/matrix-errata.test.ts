/**
 * Issue #10: the conformance matrix itself — not only each erratum's dedicated reproducer — must
 * catch every erratum in the catalogue. One applicable combination per erratum (three
 * combinations cover the five), at the `quick` size CI runs: with the erratum on, some property
 * or scenario must fail that passes with it off.
 */
import { describe, expect, it } from "vitest";
import { type Combination, errata } from "../src/index.js";
import { mutationMisses, runMatrix, runMutation } from "../src/matrix/index.js";

/** Each combination, and the errata it stands for (each erratum must apply there). */
const COVER: Record<string, readonly string[]> = {
  // Mach pmap × FreeBSD VM: the 1996 APTD window, and the Mach pmap's 1997 stale pv entry.
  "i386/mach/freebsd": ["freebsd-1996-aptd-interrupt", "netbsd-1997-stale-pv"],
  // FreeBSD pmap on i386 × FreeBSD VM: the 2006 pv-chunk KVA recursion and the 2009 promotion litter.
  "i386/freebsd/freebsd": ["freebsd-2006-pvchunk-kva-recursion", "freebsd-2009-promote-litter"],
  // UVM: the 2019 wire count underflow.
  "i386-pae/cranor/uvm": ["netbsd-2019-wire-underflow"],
};

const asCombo = (k: string): Combination => {
  const [machine, pmap, vm] = k.split("/") as [string, string, string];
  return { machine, pmap, vm } as Combination;
};

describe("errata-detection: the matrix catches every erratum", () => {
  it("the combinations chosen cover the whole catalogue, each erratum where it applies", () => {
    expect(Object.values(COVER).flat().sort()).toEqual([...errata.known()].sort());
    for (const [k, ids] of Object.entries(COVER)) {
      for (const id of ids) expect(errata.erratum(id).applies(asCombo(k)).applies, `${id} on ${k}`).toBe(true);
    }
  });

  it("quick size: each erratum switched on makes some check fail that passes with it off", async () => {
    const t0 = performance.now();
    const r = await runMatrix({ size: "quick", suites: ["errata-detection"], combos: Object.keys(COVER) });
    const seconds = (performance.now() - t0) / 1000;
    const caught: Record<string, string> = {};
    for (const c of r.combos) {
      const key = `${c.machine}/${c.pmap}/${c.vm}`;
      const s = c.suites["errata-detection"]!;
      console.log(
        `[${key}] errata-detection ${s.passed}/${s.passed + s.failed} caught in ${s.seconds.toFixed(1)} s: ` +
          (s.detections ?? []).map((d) => `${d.erratum} by "${d.check}"`).join("; "),
      );
      expect(s.failures?.map((f) => f.message) ?? [], key).toEqual([]);
      expect(s.passed, key).toBe(
        errata.known().filter((id) => errata.erratum(id).applies(asCombo(key)).applies).length,
      );
      for (const d of s.detections ?? []) caught[d.erratum] = d.check;
    }
    console.log(`errata-detection over ${r.combos.length} combinations: ${seconds.toFixed(1)} s`);
    for (const id of errata.known()) expect(caught[id], id).toBeDefined();
    // The two the suite used to miss are caught by the checks added for them.
    expect(caught["netbsd-2019-wire-underflow"]).toBe("model: wiring with SysV shm and I/O");
    expect(caught["freebsd-1996-aptd-interrupt"]).toBe(
      "stress: fork storm under asynchronous writes of mapped file pages",
    );
  }, 180_000);
});

describe("caughtBy hints", () => {
  it("name real checks: conformance properties or scenarios", async () => {
    const { PROPERTIES, SCENARIOS } = await import("@vmlab/conformance");
    const names = new Set([...PROPERTIES.map((p) => p.name), ...SCENARIOS.map((s) => s.name)]);
    for (const id of errata.known()) {
      for (const h of errata.erratum(id).caughtBy ?? []) expect(names.has(h), `${id}: ${h}`).toBe(true);
    }
  });
});

describe("the mutation check (runMutation)", () => {
  it("an erratum switched on makes the ordinary suites fail where it applies, naming the suites and a replayable failure", async () => {
    const r = await runMutation({
      errata: ["netbsd-2019-wire-underflow", "freebsd-2009-promote-litter"],
      combos: ["i386-pae/cranor/uvm", "amd64/freebsd/freebsd", "i386/cranor/mach"],
    });
    expect(r.errata.map((e) => e.id)).toEqual(["netbsd-2019-wire-underflow", "freebsd-2009-promote-litter"]);
    // Each erratum runs only where it applies (i386/cranor/mach is immune to both).
    expect(r.errata.map((e) => e.combos.map((c) => `${c.machine}/${c.pmap}/${c.vm}`))).toEqual([
      ["i386-pae/cranor/uvm"],
      ["amd64/freebsd/freebsd"],
    ]);
    expect(mutationMisses(r)).toEqual([]);
    for (const e of r.errata) {
      const c = e.combos[0]!;
      expect(c.caught).toBe(true);
      expect(c.suites.length).toBeGreaterThan(0);
      expect(c.first?.replay.startsWith(`${c.machine}/${c.pmap}/${c.vm}+${e.id}|`)).toBe(true);
    }
    expect(r.errata[0]!.combos[0]!.suites).toContain("properties");
  }, 300_000);
});
