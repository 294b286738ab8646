import { appendFileSync } from "node:fs";
import { it } from "vitest";
import { runProperties, runScenarios } from "../src/index.js";

const log = (...a: unknown[]) => appendFileSync("/tmp/cf/progress.txt", `${a.map(String).join(" ")}\n`);

it("smoke", async () => {
  const k = await import("@vmlab/kernel");
  const hw = await import("@vmlab/hw-i386" as string);
  const amd = await import("@vmlab/hw-amd64" as string);
  const pm = await import("@vmlab/pmap-mach" as string);
  const vm = await import("@vmlab/vm-mach" as string);
  log("imported");
  const which = (process.env.SMOKE_MACHINES ?? "i386,i386-pae,amd64").split(",");
  for (const [name, m] of [["i386", hw.i386], ["i386-pae", hw.i386Pae], ["amd64", amd.amd64]] as const) {
    if (!which.includes(name)) continue;
    const factory = () => k.createSystem({ machine: m({ memoryMiB: 32, cpus: 2 }), pmap: pm.machPmap(), vm: vm.machVm(), seed: 1 });
    const t = Date.now();
    let s;
    try { s = factory(); } catch (e) { log(name, "create failed", (e as Error).stack); continue; }
    log(name, "create ms", Date.now() - t, JSON.stringify(s.layout));
    for (const sc of (process.env.SMOKE_SCEN ?? "").split(",").filter(Boolean)) {
      const r = runScenarios(factory, { names: [sc], forkHeavyPages: Number(process.env.SMOKE_PAGES ?? 100) });
      for (const x of r.results) log(name, x.passed ? "PASS" : "FAIL", x.name, x.seconds, x.passed ? "" : x.detail.slice(0, 3000));
    }
    if (process.env.SMOKE_ALLSCEN) {
      const r = runScenarios(factory, { forkHeavyPages: Number(process.env.SMOKE_PAGES ?? 100) });
      for (const x of r.results) log(name, x.passed ? "PASS" : "FAIL", x.name, x.seconds, x.passed ? "" : x.detail.slice(0, 3000));
    }
    if (process.env.SMOKE_RUNS) {
      const rep = runProperties(factory, { runs: Number(process.env.SMOKE_RUNS), commands: Number(process.env.SMOKE_CMDS ?? 30), seed: Number(process.env.SMOKE_SEED ?? 1), ...(process.env.SMOKE_PROPS ? { properties: process.env.SMOKE_PROPS.split('|') } : {}), timeLimitMs: 120_000, skip: (process.env.SMOKE_SKIP ?? '').split(',').filter(Boolean) as never });
      log(name, "props", rep.passed, rep.failed, rep.seconds, rep.runs, rep.commands);
      for (const f of rep.failures) log(f.message.split("\n").filter((l) => !/^\s+at /.test(l)).join("\n").slice(0, 6000));
    }
  }
}, 1_800_000);
