import { describe, expect, it } from "vitest";
import { type Combination, combinations, errata } from "../src/index.js";
import {
  MATRIX_SUITES,
  type MatrixResult,
  matrixJobs,
  mergeMatrix,
  parseShard,
  runMatrix,
  selectCombos,
} from "../src/matrix.js";

const COMBO = "i386/mach/mach";
const combo: Combination = { machine: "i386", pmap: "mach", vm: "mach" };

describe("runMatrix", () => {
  it("quick size on one combination: every suite reports; errata-detection runs each applicable erratum or says it checked nothing", async () => {
    const r = await runMatrix({ size: "quick", combos: [COMBO], seed: 7 });
    expect(r.combos).toHaveLength(1);
    const c = r.combos[0]!;
    expect(`${c.machine}/${c.pmap}/${c.vm}`).toBe(COMBO);
    expect(Object.keys(c.suites)).toEqual([...MATRIX_SUITES]);
    for (const name of ["properties", "scenarios", "pressure", "smp"]) {
      const s = c.suites[name]!;
      expect(s.passed + s.failed, name).toBeGreaterThan(0);
      expect(s.seconds).toBeGreaterThanOrEqual(0);
      for (const f of s.failures ?? []) {
        expect(f.replay.startsWith(`${COMBO}|`)).toBe(true);
        expect(f.message.length).toBeGreaterThan(0);
      }
      expect(s.failures?.length ?? 0).toBe(s.failed);
    }
    expect(c.suites.properties!.passed + c.suites.properties!.failed).toBe(6);
    expect(c.suites.pressure!.passed + c.suites.pressure!.failed).toBe(3);
    expect(c.suites.smp!.passed + c.suites.smp!.failed).toBe(1);
    const applicable = errata.known().filter((id) => errata.erratum(id).applies(combo).applies);
    const e = c.suites["errata-detection"]!;
    if (applicable.length === 0) expect(e).toMatchObject({ passed: 0, failed: 0, note: expect.any(String) });
    else expect(e.passed + e.failed).toBe(applicable.length);
    expect(c.ok).toBe(Object.values(c.suites).every((s) => s.failed === 0));
    // The JSON round-trips (what --json prints and --merge reads).
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  }, 600_000);

  it("a failure's replay token reruns that case", async () => {
    const r = await runMatrix({ size: "quick", combos: [COMBO], suites: ["scenarios"] });
    const again = await runMatrix({ replay: `${COMBO}|scenario:errno: mmap` });
    expect(again.combos[0]!.suites.scenarios).toMatchObject({ passed: 1, failed: 0 });
    expect(r.combos[0]!.suites.scenarios!.passed).toBeGreaterThan(10);
  }, 300_000);

  it("rejects unknown combinations, sizes, suites and shards with ConfigError", async () => {
    await expect(runMatrix({ combos: ["i386/nope/mach"] })).rejects.toThrow(/combos/);
    await expect(runMatrix({ size: "huge" as never })).rejects.toThrow(/size/);
    await expect(runMatrix({ suites: ["bogus" as never] })).rejects.toThrow(/suites/);
    expect(() => parseShard("3/3")).toThrow(/shard/);
    expect(() => parseShard("x")).toThrow(/shard/);
    expect(parseShard("1/4")).toEqual({ index: 1, count: 4 });
  });
});

describe("sharding", () => {
  const fake: Combination[] = [
    { machine: "i386", pmap: "mach", vm: "mach" },
    { machine: "i386", pmap: "cranor", vm: "mach" },
    { machine: "amd64", pmap: "mach", vm: "mach" },
  ];

  it("is deterministic and every job lands in exactly one shard", () => {
    const all = matrixJobs(fake, 2, 100);
    expect(all).toHaveLength(6);
    for (const n of [1, 2, 3, 4, 7]) {
      const shards = Array.from({ length: n }, (_, i) => matrixJobs(fake, 2, 100, { index: i, count: n }));
      expect(shards.flat().length).toBe(all.length);
      const seen = shards.flat().map((j) => `${j.combo.machine}/${j.combo.pmap}/${j.seed}`);
      expect(new Set(seen).size).toBe(all.length);
      // The same call gives the same split.
      expect(matrixJobs(fake, 2, 100, { index: 0, count: n })).toEqual(shards[0]);
    }
    expect(matrixJobs(fake, 2, 100, { index: 1, count: 2 }).map((j) => j.seed)).toEqual([
      100 + 0x10000,
      100 + 0x10000,
      100 + 0x10000,
    ]);
  });

  it("selects combinations by name, in registry order", () => {
    const all = combinations();
    const last = all[all.length - 1]!;
    const key = `${last.machine}/${last.pmap}/${last.vm}`;
    expect(selectCombos([key, COMBO]).map((c) => `${c.machine}/${c.pmap}/${c.vm}`)).toEqual([COMBO, key]);
    expect(selectCombos()).toEqual(all);
  });
});

describe("mergeMatrix", () => {
  const suite = (passed: number, failed: number, seconds: number) => ({
    passed,
    failed,
    seconds,
    ...(failed ? { failures: [{ name: "p", seed: 1, replay: "t", message: "m" }] } : {}),
  });
  const shardA: MatrixResult = {
    size: "quick",
    seed: 1,
    shard: "0/2",
    combos: [
      { machine: "amd64", pmap: "mach", vm: "mach", ok: true, suites: { properties: suite(5, 0, 1) } },
      { machine: "i386", pmap: "mach", vm: "mach", ok: false, suites: { properties: suite(4, 1, 2) } },
    ],
  };
  const shardB: MatrixResult = {
    size: "quick",
    seed: 1,
    shard: "1/2",
    combos: [
      {
        machine: "i386",
        pmap: "mach",
        vm: "mach",
        ok: true,
        suites: { properties: suite(5, 0, 3), scenarios: suite(30, 0, 1) },
      },
    ],
  };

  it("sums suites per combination, keeps failures, recomputes ok, orders by the registry", () => {
    const m = mergeMatrix([shardA, shardB]);
    expect(m.shard).toBeUndefined();
    expect(m.combos.map((c) => c.machine)).toEqual(["i386", "amd64"]);
    const i386 = m.combos[0]!;
    expect(i386.suites.properties).toMatchObject({ passed: 9, failed: 1, seconds: 5 });
    expect(i386.suites.properties!.failures).toHaveLength(1);
    expect(i386.suites.scenarios).toMatchObject({ passed: 30, failed: 0 });
    expect(i386.ok).toBe(false);
    expect(m.combos[1]!.ok).toBe(true);
    expect(mergeMatrix([shardB, shardA])).toEqual(m);
    expect(mergeMatrix([])).toEqual({ combos: [] });
  });
});
