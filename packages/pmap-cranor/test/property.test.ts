/**
 * Model-based property: random pmap_enter / pmap_remove / pmap_protect / pmap_unwire (and
 * pmap_page_protect, pmap_clear_modify) on two pmaps — active on CPUs 0 and 1, operated on from
 * any of three CPUs, so both windows and the shootdowns are used — keep audit() clean and agree
 * with a Map model of (pmap, va) → (page, prot, wired), checked through the MMU of the CPU each
 * pmap runs on, whose TLB is warm from earlier steps: a missed invalidation shows as a wrong answer.
 * Seeds: VMLAB_SEED fixes one; a failure prints the seed and the shrunk command list.
 */
import { PAGE_SIZE, PMAP_WIRED, Prot } from "@vmlab/core";
import type { MachineName } from "@vmlab/machine";
import fc from "fast-check";
import { describe, it } from "vitest";
import type { CranorPmap } from "../src/index.js";
import { bootSystem, MACHINES, type TestSystem, type ToyPage, userPa } from "./support/host.js";

interface Entry {
  page: number;
  prot: number;
  wired: boolean;
}

type Cmd =
  | { op: "enter"; pm: number; va: number; page: number; prot: number; wired: boolean; cpu: number }
  | { op: "remove"; pm: number; va: number; n: number; cpu: number }
  | { op: "protect"; pm: number; va: number; n: number; prot: number; cpu: number }
  | { op: "unwire"; pm: number; va: number; cpu: number }
  | { op: "pageProtect"; page: number; prot: number; cpu: number }
  | { op: "clearModify"; page: number; cpu: number }
  | { op: "touch"; pm: number; va: number; write: boolean };

const PAGES = 4;
const NVA = 8;
const cpuArb = fc.integer({ min: 0, max: 2 });
const pmArb = fc.integer({ min: 0, max: 1 });
const vaArb = fc.integer({ min: 0, max: NVA - 1 });
const pageArb = fc.integer({ min: 0, max: PAGES - 1 });
const enterProt = fc.constantFrom(Prot.Read, Prot.Read | Prot.Write, Prot.Read | Prot.Exec, Prot.All);
const anyProt = fc.integer({ min: 0, max: 7 });

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("enter" as const),
      pm: pmArb,
      va: vaArb,
      page: pageArb,
      prot: enterProt,
      wired: fc.boolean(),
      cpu: cpuArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("remove" as const),
      pm: pmArb,
      va: vaArb,
      n: fc.integer({ min: 1, max: 3 }),
      cpu: cpuArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("protect" as const),
      pm: pmArb,
      va: vaArb,
      n: fc.integer({ min: 1, max: 3 }),
      prot: anyProt,
      cpu: cpuArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("unwire" as const), pm: pmArb, va: vaArb, cpu: cpuArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("pageProtect" as const), page: pageArb, prot: anyProt, cpu: cpuArb }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("clearModify" as const), page: pageArb, cpu: cpuArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("touch" as const), pm: pmArb, va: vaArb, write: fc.boolean() }) },
);

function vasFor(name: MachineName, sys: TestSystem): number[] {
  const top = sys.pmap.layout.userMax - PAGE_SIZE;
  const far = name === "amd64" ? 0x7654_3210_0000 : 0x8000_0000;
  const pt = sys.pmap.win.span[1] as number;
  return [0x1000, 0x2000, pt - PAGE_SIZE, pt, pt + PAGE_SIZE, far, top - PAGE_SIZE, top];
}

/** One run: a fresh system, the commands, audit + model check after each. */
function run(name: MachineName, cmds: readonly Cmd[]): void {
  const sys = bootSystem(name, { cpus: 3 });
  const hasNx = name !== "i386";
  const pms = [sys.create(), sys.create()] as const;
  pms[0].activate(0);
  pms[1].activate(1);
  const pages: ToyPage[] = [];
  for (let i = 0; i < PAGES; i++) pages.push(sys.host.page());
  const vas = vasFor(name, sys);
  const model = [new Map<number, Entry>(), new Map<number, Entry>()];
  const inRange = (va: number, n: number) => (e: number) => e >= va && e < va + n * PAGE_SIZE;

  const check = (step: number, c: Cmd): void => {
    sys.check();
    for (let p = 0; p < 2; p++) {
      const pm = pms[p] as CranorPmap;
      let wired = 0;
      for (const va of vas) {
        const e = model[p]?.get(va);
        if (e?.wired) wired++;
        const pa = e === undefined ? "fault" : (pages[e.page] as ToyPage).pa;
        const read = userPa(sys, p, va, "read");
        const write = userPa(sys, p, va, "write");
        const exec = userPa(sys, p, va, "exec");
        const wantWrite = e !== undefined && (e.prot & Prot.Write) !== 0 ? pa : "fault";
        const wantExec = e !== undefined && (!hasNx || (e.prot & Prot.Exec) !== 0) ? pa : "fault";
        if (read !== pa || write !== wantWrite || exec !== wantExec) {
          throw new Error(
            `step ${step} ${JSON.stringify(c)}: pmap ${p} va 0x${va.toString(16)}: ` +
              `r/w/x ${read}/${write}/${exec}, model ${JSON.stringify(e)} → ${pa}/${wantWrite}/${wantExec}`,
          );
        }
      }
      if (pm.wiredCount !== wired) throw new Error(`step ${step}: pmap ${p} wired ${pm.wiredCount}, model ${wired}`);
    }
  };

  cmds.forEach((c, step) => {
    switch (c.op) {
      case "enter": {
        const va = vas[c.va] as number;
        sys.on(c.cpu, () => pms[c.pm]?.enter(va, pages[c.page] as ToyPage, c.prot, c.wired ? PMAP_WIRED : 0));
        model[c.pm]?.set(va, { page: c.page, prot: c.prot, wired: c.wired });
        break;
      }
      case "remove": {
        const va = vas[c.va] as number;
        sys.on(c.cpu, () => pms[c.pm]?.remove(va, va + c.n * PAGE_SIZE));
        for (const k of [...(model[c.pm]?.keys() ?? [])].filter(inRange(va, c.n))) model[c.pm]?.delete(k);
        break;
      }
      case "protect": {
        const va = vas[c.va] as number;
        sys.on(c.cpu, () => pms[c.pm]?.protect(va, va + c.n * PAGE_SIZE, c.prot));
        for (const k of [...(model[c.pm]?.keys() ?? [])].filter(inRange(va, c.n))) {
          const e = model[c.pm]?.get(k) as Entry;
          if ((c.prot & (Prot.Read | Prot.Exec)) === 0) model[c.pm]?.delete(k);
          else e.prot &= c.prot | Prot.Read;
        }
        break;
      }
      case "unwire": {
        const va = vas[c.va] as number;
        const e = model[c.pm]?.get(va);
        if (e === undefined) return; // pmap_unwire of an unmapped va is a DIAGNOSTIC panic
        sys.on(c.cpu, () => pms[c.pm]?.unwire(va));
        e.wired = false;
        break;
      }
      case "pageProtect": {
        sys.on(c.cpu, () => sys.pmap.pageProtect(pages[c.page] as ToyPage, c.prot));
        for (const m of model) {
          for (const [k, e] of [...m]) {
            if (e.page !== c.page) continue;
            if ((c.prot & (Prot.Read | Prot.Exec)) === 0) m.delete(k);
            else e.prot &= c.prot | Prot.Read;
          }
        }
        break;
      }
      case "clearModify":
        sys.on(c.cpu, () => sys.pmap.clearModify(pages[c.page] as ToyPage));
        break;
      case "touch":
        userPa(sys, c.pm, vas[c.va] as number, c.write ? "write" : "read");
        break;
    }
    check(step, c);
  });
}

const SEED = Number(process.env.VMLAB_SEED ?? 0xc7a0);
const RUNS = Number(process.env.VMLAB_PMAP_RUNS ?? 60);

describe.each(MACHINES)("%s: model-based property", (name) => {
  it(`random enter/remove/protect/unwire on two pmaps agree with the model (seed ${SEED})`, {
    timeout: 120_000,
  }, () => {
    const out = fc.check(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 40 }), (cmds) => run(name, cmds)),
      { seed: SEED, numRuns: RUNS },
    );
    if (out.failed) {
      const msg = fc.defaultReportMessage(out) ?? "failed";
      console.log(`${name}: property failed — seed ${out.seed}, path "${out.counterexamplePath}"\n${msg}`);
      throw new Error(msg);
    }
  });
});
