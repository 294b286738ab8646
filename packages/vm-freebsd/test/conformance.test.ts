/**
 * The conformance suite's model-based properties against whole systems: the FreeBSD VM under
 * every pmap on every machine, every layer audited after every command (the VM's audit checks
 * reservation popcounts, the buddy lists, objects' resident pages and reference counts).
 */
import { runProperties } from "@vmlab/conformance";
import { createSystem } from "@vmlab/kernel";
import { describe, expect, it } from "vitest";
import { freebsdVm } from "../src/index.js";
import { MACHINES, PMAPS } from "./systems.js";

const RUNS = Number(process.env.VMLAB_RUNS ?? 25);
const COMMANDS = Number(process.env.VMLAB_COMMANDS ?? 30);
const SEED = Number(process.env.VMLAB_SEED ?? 0x5eed);

describe.each(PMAPS)("conformance: pmap %s × FreeBSD VM", (pmapName, pmap) => {
  it.each(MACHINES)(`on %s: ${RUNS} runs × up to ${COMMANDS} commands`, { timeout: 600_000 }, (name, machine) => {
    const factory = () =>
      createSystem({ machine: machine({ memoryMiB: 32, cpus: 2 }), pmap: pmap(), vm: freebsdVm(), seed: 1 });
    const t0 = performance.now();
    const report = runProperties(factory, { runs: RUNS, commands: COMMANDS, seed: SEED });
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `conformance ${pmapName} × freebsd on ${name}: ${report.passed} passed, ${report.failed} failed, ` +
        `${report.runs} runs, ${report.commands} commands in ${secs.toFixed(1)} s (seed ${SEED})`,
    );
    for (const f of report.failures)
      console.log(`${f.message.slice(0, 3000)}\n(replay: seed ${f.seed}, path "${f.replay}")`);
    expect(report.failed).toBe(0);
  });
});
