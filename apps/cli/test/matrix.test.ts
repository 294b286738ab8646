import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Combination, errata, type MatrixResult } from "vmlab";
import { setMatrixFailureHandler } from "../src/matrix.js";
import { program, setOutput } from "../src/program.js";

const COMBO = "i386/mach/mach";

function capture(): string[] {
  const lines: string[] = [];
  setOutput((s) => lines.push(s));
  return lines;
}

describe("vmlab matrix", () => {
  let failed = -1;
  setMatrixFailureHandler((n) => {
    failed = n;
  });
  afterEach(() => {
    failed = -1;
  });

  it("--json prints the API.md shape for the chosen combination and suites", async () => {
    const lines = capture();
    await program.parseAsync([
      "node",
      "vmlab",
      "matrix",
      "--quick",
      "--combos",
      COMBO,
      "--suites",
      "scenarios,errata-detection",
      "--seed",
      "3",
      "--json",
    ]);
    const r = JSON.parse(lines.join("\n")) as MatrixResult;
    expect(r).toMatchObject({ size: "quick", seed: 3 });
    expect(r.combos).toHaveLength(1);
    const c = r.combos[0]!;
    expect([c.machine, c.pmap, c.vm]).toEqual(["i386", "mach", "mach"]);
    expect(Object.keys(c.suites)).toEqual(["scenarios", "errata-detection"]);
    expect(c.suites.scenarios!.passed + c.suites.scenarios!.failed).toBeGreaterThan(20);
    const applicable = errata.known().filter((id) => errata.erratum(id).applies(c as Combination).applies);
    const e = c.suites["errata-detection"]!;
    expect(e.passed + e.failed).toBe(applicable.length);
    if (applicable.length === 0) expect(e.note).toBeDefined();
    expect(failed).toBe(c.suites.scenarios!.failed + e.failed);
  }, 300_000);

  it("prints a table with a row per combination and the replay tokens of failures", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vmlab-matrix-"));
    const a: MatrixResult = {
      shard: "0/2",
      combos: [
        {
          machine: "i386",
          pmap: "mach",
          vm: "mach",
          ok: false,
          suites: {
            properties: {
              passed: 4,
              failed: 1,
              seconds: 2.5,
              failures: [
                { name: "model: wiring", seed: 9, replay: `${COMBO}|model: wiring|9|30|1:2#AB:C`, message: "boom" },
              ],
            },
            "errata-detection": { passed: 0, failed: 0, seconds: 0, note: "no errata in the catalogue yet" },
          },
        },
      ],
    };
    const b: MatrixResult = {
      shard: "1/2",
      combos: [
        {
          machine: "amd64",
          pmap: "mach",
          vm: "mach",
          ok: true,
          suites: { properties: { passed: 5, failed: 0, seconds: 1 } },
        },
      ],
    };
    writeFileSync(join(dir, "a.json"), JSON.stringify(a));
    writeFileSync(join(dir, "b.json"), JSON.stringify(b));
    const lines = capture();
    await program.parseAsync(["node", "vmlab", "matrix", "--merge", join(dir, "a.json"), join(dir, "b.json")]);
    const text = lines.join("\n");
    expect(text).toMatch(/i386\/mach\/mach.*4\/1 {2}2\.5 s.*— no errata in the catalogue yet.*NO/);
    expect(text).toMatch(/amd64\/mach\/mach.*5\/0 {2}1\.0 s.*yes/);
    expect(text).toContain(`vmlab matrix --replay '${COMBO}|model: wiring|9|30|1:2#AB:C'`);
    expect(text).toContain("boom");
    expect(failed).toBe(1);
    const json = capture();
    await program.parseAsync([
      "node",
      "vmlab",
      "matrix",
      "--merge",
      join(dir, "a.json"),
      join(dir, "b.json"),
      "--json",
    ]);
    const merged = JSON.parse(json.join("\n")) as MatrixResult;
    expect(merged.combos.map((c) => c.machine)).toEqual(["i386", "amd64"]);
    expect(merged.shard).toBeUndefined();
  });

  it("--replay reruns a scenario failure's token", async () => {
    const lines = capture();
    await program.parseAsync(["node", "vmlab", "matrix", "--replay", `${COMBO}|scenario:errno: munmap`, "--json"]);
    const r = JSON.parse(lines.join("\n")) as MatrixResult;
    expect(r.combos[0]!.suites.scenarios).toMatchObject({ passed: 1, failed: 0 });
  }, 120_000);
});

describe("shrunk", () => {
  it("pulls fast-check's shrunk command list out of a property failure's message", async () => {
    const { shrunk } = await import("../src/matrix.js");
    const message =
      'model: wiring\nProperty failed after 3 tests\nCounterexample: [[0,mlock(p0, r0+0p, 2p),fork(p0) /*replayPath="SAC:B"*/]]\nShrunk 4 time(s)';
    expect(shrunk(message)).toBe("[[0,mlock(p0, r0+0p, 2p),fork(p0)]]");
    expect(shrunk("scenario failed: expected ENOMEM")).toBe("");
  });
});

describe("--machine, --pmap and --vm (API.md: every command takes them)", () => {
  it("matrix runs only the combinations they select, together with --combos", async () => {
    const lines = capture();
    await program.parseAsync([
      "node",
      "vmlab",
      "matrix",
      "--machine",
      "amd64",
      "--pmap",
      "cranor",
      "--vm",
      "uvm",
      "--suites",
      "smp",
      "--json",
    ]);
    const r = JSON.parse(lines.join("\n")) as MatrixResult;
    expect(r.combos.map((c) => `${c.machine}/${c.pmap}/${c.vm}`)).toEqual(["amd64/cranor/uvm"]);
    expect(r.combos[0]!.suites.smp).toMatchObject({ passed: 1, failed: 0 });
    await expect(
      program.parseAsync(["node", "vmlab", "matrix", "--vm", "uvm", "--combos", "i386/mach/mach", "--json"]),
    ).rejects.toThrow(/select no combination/);
  }, 120_000);

  it("list and errata filter their combinations; an unknown name is a ConfigError", async () => {
    const lines = capture();
    await program.parseAsync(["node", "vmlab", "list", "--vm", "uvm", "--json"]);
    const l = JSON.parse(lines.join("\n")) as { combinations: Combination[] };
    expect(l.combinations).toHaveLength(9);
    expect(l.combinations.every((c) => c.vm === "uvm")).toBe(true);
    const e = capture();
    await program.parseAsync(["node", "vmlab", "errata", "--machine", "amd64", "--json"]);
    const r = JSON.parse(e.join("\n")) as { errata: { applies: Combination[]; immune: Combination[] }[] };
    for (const x of r.errata) {
      expect([...x.applies, ...x.immune].every((c) => c.machine === "amd64")).toBe(true);
      expect(x.applies.length + x.immune.length).toBe(9);
    }
    await expect(program.parseAsync(["node", "vmlab", "list", "--pmap", "bsd", "--json"])).rejects.toThrow(/pmap/);
  });
});
