import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchReport } from "@vmlab/bench";
import { describe, expect, it } from "vitest";
import { runBench } from "vmlab";
import { spliceSummary } from "../src/bench.js";
import { program, setOutput } from "../src/index.js";

const ARGS = [
  "--machine",
  "i386",
  "--pmap",
  "mach",
  "--vm",
  "mach",
  "--workloads",
  "seq-touch,fork-cow",
  "--scale",
  "1",
];
const simulated = (m: Record<string, number>) =>
  Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith("host.")));

describe("vmlab bench", () => {
  it("--json prints the report runBench returns (same simulated numbers), --out writes the three files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vmlab-bench-"));
    const lines: string[] = [];
    setOutput((s) => lines.push(s));
    await program.parseAsync(["node", "vmlab", "bench", ...ARGS, "--json", "--out", dir]);
    const printed = JSON.parse(lines.join("\n")) as BenchReport;
    const direct = await runBench({
      machine: "i386",
      pmap: "mach",
      vm: "mach",
      workloads: ["seq-touch", "fork-cow"],
      scale: 1,
    });
    expect(printed.results.map((r) => [r.workload, simulated(r.metrics)])).toEqual(
      direct.results.map((r) => [r.workload, simulated(r.metrics)]),
    );
    expect(printed.meta.command).toBe(
      "node apps/cli/dist/main.js bench --machine i386 --pmap mach --vm mach --workloads seq-touch,fork-cow --scale 1",
    );
    const saved = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as BenchReport;
    expect(saved).toEqual(printed);
    const html = readFileSync(join(dir, "index.html"), "utf8");
    expect(html).toContain("var uPlot=function()");
    expect(html).toContain('<figure class="chart" data-metric="sim.cycles"');
    expect(readFileSync(join(dir, "summary.md"), "utf8")).toContain("| i386/mach/mach |");
  }, 120_000);

  it("prints the summary table without --json", async () => {
    const lines: string[] = [];
    setOutput((s) => lines.push(s));
    await program.parseAsync(["node", "vmlab", "bench", ...ARGS]);
    const text = lines.join("\n");
    expect(text).toContain("machine/pmap/vm");
    expect(text).toMatch(/i386\/mach\/mach.*M/);
    expect(text).toMatch(/2\/2 cells ran/);
  }, 120_000);

  it("replaces only the generated section of a docs page", () => {
    const page = "# Benchmarks\n\nhand-written\n";
    const once = spliceSummary(page, "table v1");
    expect(once).toContain("hand-written");
    expect(once).toContain("table v1");
    const twice = spliceSummary(`${once}\n## after\n`, "table v2");
    expect(twice).toContain("table v2");
    expect(twice).not.toContain("table v1");
    expect(twice).toContain("## after");
    expect(twice.match(/bench:begin/g)).toHaveLength(1);
  });
});
