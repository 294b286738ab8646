/** Command definitions (commander). Output goes through `out` so tests can capture it. */

import { WORKLOADS } from "@vmlab/bench";
import { amd64 } from "@vmlab/hw-amd64";
import { i386, i386Pae } from "@vmlab/hw-i386";
import { SingleBar } from "cli-progress";
import Table from "cli-table3";
import { Command } from "commander";
import { combinations } from "vmlab";
import { runDemo } from "./demo.js";
import { runWorkload } from "./run.js";

export let out: (s: string) => void = (s) => process.stdout.write(`${s}\n`);
export function setOutput(fn: (s: string) => void): void {
  out = fn;
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

program
  .command("list")
  .description("list the parts that exist so far")
  .option("--json", "machine-readable output")
  .action((opts: { json?: boolean }) => {
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
            combinations: combinations(),
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
    for (const x of combinations()) c.push([x.machine, x.pmap, x.vm]);
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

program
  .command("run")
  .description("run one workload on the chosen combinations and show the counters")
  .argument("<workload>", `one of ${WORKLOADS.map((w) => w.name).join(", ")}`)
  .option("--machine <name>", "i386 | i386-pae | amd64 | all", "all")
  .option("--pmap <name>", "mach | freebsd | cranor | all", "all")
  .option("--vm <name>", "mach | uvm | freebsd | all", "all")
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
