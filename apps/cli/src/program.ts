/** Command definitions (commander). Output goes through `out` so tests can capture it. */

import { WORKLOADS } from "@vmlab/bench";
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import { SingleBar } from "cli-progress";
import Table from "cli-table3";
import { Command } from "commander";
import { selectCombinations } from "vmlab";
import { DEFAULT_SCALE, DEFAULT_SEED, runBenchCommand } from "./bench.js";
import { runDemo } from "./demo.js";
import { type ErrataCliOptions, runErrataCommand } from "./errata.js";
import { runExplore } from "./explore.js";
import { type MatrixCommandOptions, runMatrixCommand } from "./matrix.js";
import { runWorkload } from "./run.js";

export let out: (s: string) => void = (s) => process.stdout.write(`${s}\n`);
export function setOutput(fn: (s: string) => void): void {
  out = fn;
}

/** The combination filter every command takes (API.md): machine, pmap and VM names, or `all`. */
function comboFilter(cmd: Command): Command {
  return cmd
    .option("--machine <name>", "i386 | i386-pae | amd64 | all", "all")
    .option("--pmap <name>", "mach | freebsd | cranor | all", "all")
    .option("--vm <name>", "mach | uvm | freebsd | all", "all");
}

const hex = (n: number) => (n < 0 ? String(n) : `0x${n.toString(16)}`);

export const program = new Command()
  .name("vmlab")
  .description("historic BSD virtual-memory systems, rebuilt as interchangeable parts")
  .exitOverride();

program
  .command("demo")
  .description("boot the three bare machines and show their MMUs and TLBs at work")
  .option("--json", "machine-readable output")
  .action((opts: { json?: boolean }) => {
    const rows = runDemo();
    if (opts.json) {
      out(JSON.stringify({ demo: rows }, null, 2));
      return;
    }
    const t = new Table({
      head: [
        "machine",
        "VA 0x8000010 →",
        "#PF code (user write, unmapped)",
        "A+D set",
        "stale TLB read",
        "after invlpg",
        "CPU1 before/after IPI",
      ],
    });
    for (const r of rows) {
      t.push([
        r.machine,
        hex(r.translatedPa),
        hex(r.faultErrorCode),
        String(r.accessedDirty),
        hex(r.staleRead),
        hex(r.freshRead),
        `${hex(r.shootdown.before)} / ${hex(r.shootdown.after)}`,
      ]);
    }
    out(t.toString());
    const keys = Object.keys(rows[0]?.stats ?? {});
    const s = new Table({ head: ["counter", ...rows.map((r) => r.machine)] });
    for (const k of keys) s.push([k, ...rows.map((r) => String(r.stats[k] ?? 0))]);
    out(s.toString());
  });

comboFilter(program.command("list"))
  .description("list the parts that exist so far")
  .option("--json", "machine-readable output")
  .action((opts: { json?: boolean; machine: string; pmap: string; vm: string }) => {
    const combos = selectCombinations(opts);
    const machines = [i386(), i386Pae(), amd64()].map((spec) => ({
      name: spec.name,
      levels: spec.format.levels.length + (spec.format.pdpteRegisters ? 1 : 0),
      entryBytes: spec.format.entryBytes,
      maxPhysBits: spec.format.maxPhysBits,
      nx: spec.format.hasNx,
      maxMemoryMiB: spec.traits.maxMemoryMiB,
    }));
    if (opts.json) {
      out(
        JSON.stringify(
          {
            machines,
            combinations: combos,
            workloads: WORKLOADS.map((w) => ({ name: w.name, description: w.description })),
          },
          null,
          2,
        ),
      );
      return;
    }
    const t = new Table({ head: ["machine", "levels", "entry bytes", "MAXPHYADDR", "NX", "max RAM MiB"] });
    for (const m of machines) t.push([m.name, m.levels, m.entryBytes, m.maxPhysBits, String(m.nx), m.maxMemoryMiB]);
    out(t.toString());
    const c = new Table({ head: ["machine", "pmap", "vm"] });
    for (const x of combos) c.push([x.machine, x.pmap, x.vm]);
    out(c.toString());
    const w = new Table({ head: ["workload", "description"] });
    for (const x of WORKLOADS) w.push([x.name, x.description]);
    out(w.toString());
  });

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`not an integer: ${v}`);
  return n;
};

comboFilter(program.command("run"))
  .description("run one workload on the chosen combinations and show the counters")
  .argument("<workload>", `one of ${WORKLOADS.map((w) => w.name).join(", ")}`)
  .option("--seed <n>", "PRNG seed", int, 1)
  .option("--scale <n>", "workload size multiplier", int, 1)
  .option("--memory <MiB>", "RAM per machine", int)
  .option("--cpus <n>", "CPUs per machine", int)
  .option("--json", "machine-readable output")
  .action(
    (
      name: string,
      o: {
        machine: string;
        pmap: string;
        vm: string;
        seed: number;
        scale: number;
        memory?: number;
        cpus?: number;
        json?: boolean;
      },
    ) => {
      const bar =
        o.json || !process.stdout.isTTY
          ? undefined
          : new SingleBar({ format: "{combo} [{bar}] {percentage}%", hideCursor: true });
      let current = "";
      const rows = runWorkload(name, {
        machine: o.machine,
        pmap: o.pmap,
        vm: o.vm,
        seed: o.seed,
        scale: o.scale,
        ...(o.memory !== undefined ? { memoryMiB: o.memory } : {}),
        ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
        onProgress: (c, done, total) => {
          const label = `${c.machine}/${c.pmap}/${c.vm}`;
          if (label !== current) {
            bar?.stop();
            bar?.start(total, done, { combo: label });
            current = label;
          }
          bar?.update(done);
        },
      });
      bar?.stop();
      if (o.json) {
        out(
          JSON.stringify(
            {
              results: rows.map((r) => ({
                machine: r.machine,
                pmap: r.pmap,
                vm: r.vm,
                workload: r.workload,
                hostMs: r.hostMs,
                ops: r.ops,
                metrics: r.stats,
              })),
            },
            null,
            2,
          ),
        );
        return;
      }
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r.stats)))].sort();
      const t = new Table({ head: ["counter", ...rows.map((r) => `${r.machine}/${r.pmap}/${r.vm}`)] });
      t.push(["host ms", ...rows.map((r) => r.hostMs.toFixed(1))]);
      for (const k of keys) t.push([k, ...rows.map((r) => String(r.stats[k] ?? 0))]);
      out(t.toString());
    },
  );

comboFilter(program.command("bench"))
  .description("the comparative benchmark: every workload on the chosen combinations, with reports")
  .option("--workloads <list>", `comma-separated, of ${WORKLOADS.map((w) => w.name).join(", ")} (default: all)`)
  .option("--scale <n>", "workload size multiplier", int, DEFAULT_SCALE)
  .option("--seed <n>", "PRNG seed", int, DEFAULT_SEED)
  .option("--json", "print the report as JSON (same numbers as the files)")
  .option("--out <dir>", "write index.html, results.json and summary.md there")
  .option("--no-audit", "skip the layer audits at sample points and after each workload")
  .option("--update-docs <file>", "replace the generated section of a Markdown page with the summary")
  .action(async (o: Parameters<typeof runBenchCommand>[0]) => {
    await runBenchCommand(o, out);
  });

comboFilter(program.command("explore"))
  .description("build the browser explorer and serve it locally (the simulation runs in the page)")
  .option("--port <n>", "port to serve on (0: any free port)", int, 5173)
  .option("--host <addr>", "address to listen on", "127.0.0.1")
  .option("--no-build", "serve the last build (apps/explorer/dist) without rebuilding")
  .option("--seed <n>", "PRNG seed the page starts with", int)
  .action(async (o: Parameters<typeof runExplore>[0]) => {
    await runExplore(o, out);
  });

comboFilter(program.command("matrix"))
  .description("the conformance matrix: every combination × properties, scenarios, pressure, smp, errata detection")
  .option("--quick", "the CI size (default)")
  .option("--full", "the full size")
  .option("--seed <n>", "seed of the first run", int)
  .option("--combos <list>", "only these combinations, comma-separated machine/pmap/vm")
  .option("--suites <list>", "only these suites: properties, scenarios, pressure, smp, errata-detection")
  .option("--shard <i/n>", "run shard i of n (0-based) of combinations × seeds; join shards with --merge")
  .option("--errata <ids>", "switch these errata on in every system")
  .option("--json", "print the result as JSON (API.md shape)")
  .option("--merge <files...>", "join shard results (JSON files) instead of running")
  .option("--replay <token>", "rerun one failure from its replay token")
  .option("--workers <n>", "worker threads (default: one per hardware thread)", int)
  .option("--mutation", "the mutation check: each erratum (or --errata) on where it applies; the matrix must fail")
  .action(async (o: MatrixCommandOptions) => {
    await runMatrixCommand(o, out);
  });

comboFilter(program.command("errata [id]"))
  .description("the historic errata: the catalogue, or one erratum's reproducer with it on and off")
  .option("--run", "run every reproducer (default when an id is given)")
  .option("--trace", "print the trace around each failure")
  .option("--json", "machine-readable output (API.md shape)")
  .action((id: string | undefined, o: ErrataCliOptions) => {
    const reports = runErrataCommand(id, o, out);
    if (reports.some((r) => r.runs.some((x) => x.reproduced !== x.enabled))) process.exitCode = 1;
  });
