import { describe, expect, it } from "vitest";
import { type Combination, combinations, errata } from "../src/index.js";
import {
  MATRIX_SUITES,
  type MatrixResult,
  matrixJobs,
  mergeMatrix,
  parseShard,
  parseToken,
  runMatrix,
  selectCombos,
} from "../src/matrix/index.js";

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

describe("replay tokens", () => {
  it("name the combination, the errata, both seeds and the size", () => {
    expect(parseToken("i386/mach/mach+netbsd-1997-stale-pv|model: wiring|12|40|3:1:0#AbC|7")).toEqual({
      kind: "property",
      combo: "i386/mach/mach",
      errata: ["netbsd-1997-stale-pv"],
      property: "model: wiring",
      seed: 12,
      commands: 40,
      path: "3:1:0#AbC",
      systemSeed: 7,
    });
    // A token from before the system seed was recorded: the systems used the property's seed.
    expect(parseToken("i386/mach/mach|model: wiring|12|40|3:1:0#AbC")).toMatchObject({ systemSeed: 12 });
    expect(parseToken("amd64/cranor/uvm|scenario:errno: mmap|5|200")).toEqual({
      kind: "scenario",
      combo: "amd64/cranor/uvm",
      errata: [],
      scenario: "errno: mmap",
      systemSeed: 5,
      forkHeavyPages: 200,
    });
    expect(parseToken("i386-pae/cranor/uvm|erratum:netbsd-2019-wire-underflow|9|full")).toMatchObject({
      kind: "erratum",
      erratum: "netbsd-2019-wire-underflow",
      seed: 9,
      size: "full",
    });
  });

  it("reject what is not a token, naming the format", async () => {
    for (const bad of ["", "i386/mach/mach", "i386/mach/mach|model: wiring|x|40|1:2", "i386/mach/mach|p|1|2|"]) {
      expect(() => parseToken(bad), bad).toThrow(/replay/);
    }
    expect(() => parseToken("i386/mach/mach+no-such-erratum|scenario:x")).toThrow(/no-such-erratum/);
    await expect(runMatrix({ replay: "i386/nope/mach|scenario:errno: mmap" })).rejects.toThrow(/combos/);
  });

  it("a property failure found with an erratum on replays exactly from its token", async () => {
    const r = await runMatrix({
      combos: [COMBO],
      errata: ["netbsd-1997-stale-pv"],
      suites: ["properties", "pressure"],
      seed: 3,
    });
    const c = r.combos[0]!;
    expect(c.ok).toBe(false);
    const failure = [...(c.suites.properties!.failures ?? []), ...(c.suites.pressure!.failures ?? [])][0]!;
    expect(failure.replay.startsWith(`${COMBO}+netbsd-1997-stale-pv|${failure.name}|`)).toBe(true);
    const again = await runMatrix({ replay: failure.replay });
    expect(again.errata).toEqual(["netbsd-1997-stale-pv"]);
    const suite = Object.values(again.combos[0]!.suites)[0]!;
    expect(suite).toMatchObject({ passed: 0, failed: 1, runs: 1 });
    const replayed = suite.failures![0]!;
    expect(replayed.replay).toBe(failure.replay);
    // The same counterexample and the same error, line for line (only the shrink count differs:
    // the replay starts from the shrunk case).
    const essence = (m: string) => m.split("\n").filter((l) => !/^Shrunk|^Property failed after|seed|path/.test(l));
    expect(essence(replayed.message)).toEqual(essence(failure.message));
    // Without the erratum, the same case passes.
    const [, ...rest] = failure.replay.split("|");
    const clean = await runMatrix({ replay: [COMBO, ...rest].join("|") });
    expect(Object.values(clean.combos[0]!.suites)[0]).toMatchObject({ passed: 1, failed: 0 });
  }, 300_000);
});
