/**
 * `vmlab errata [id]`: the catalogue with applicability per combination, or one erratum's
 * reproducer run on every combination it applies to, with the erratum on and off: whether it
 * reproduced, the panic text, the step that went wrong and the trace around it.
 */
import Table from "cli-table3";
import { type ErratumReport, errata, selectCombinations } from "vmlab";

export interface ErrataCliOptions {
  json?: boolean;
  /** Run the reproducers (default for one id; `--run` for the whole catalogue). */
  run?: boolean;
  trace?: boolean;
  /** Only these combinations (names or `all`). */
  machine?: string;
  pmap?: string;
  vm?: string;
}

export function runErrataCommand(
  id: string | undefined,
  o: ErrataCliOptions,
  out: (s: string) => void,
): ErratumReport[] {
  if (id !== undefined) errata.erratum(id);
  const run = o.run ?? id !== undefined;
  const combinations = selectCombinations(o);
  const { errata: reports } = errata.list({ run, combinations, ...(id !== undefined ? { ids: [id] } : {}) });
  if (o.json) {
    out(JSON.stringify({ errata: reports }, null, 2));
    return reports;
  }
  if (reports.length === 0) {
    out("The errata catalogue is empty.");
    return reports;
  }
  for (const r of reports) {
    out(`${r.id} — ${r.title}  (seed ${r.seed})`);
    const combos = new Table({ head: ["combination", "applies", "why not"] });
    for (const c of r.applies) combos.push([`${c.machine}/${c.pmap}/${c.vm}`, "yes", ""]);
    for (const c of r.immune) combos.push([`${c.machine}/${c.pmap}/${c.vm}`, "no", c.why]);
    out(combos.toString());
    if (r.runs.length === 0) continue;
    const runs = new Table({
      head: ["combination", "erratum", "reproduced", "what happened"],
      colWidths: [22, 9, 12, 80],
      wordWrap: true,
    });
    for (const x of r.runs) {
      runs.push([`${x.machine}/${x.pmap}/${x.vm}`, x.enabled ? "on" : "off", x.reproduced ? "yes" : "no", x.detail]);
    }
    out(runs.toString());
    if (o.trace) {
      for (const x of r.runs.filter((x) => x.enabled)) {
        out(`trace before the end, ${x.machine}/${x.pmap}/${x.vm} with the erratum on:`);
        for (const t of x.trace) out(`  #${t.seq} cpu${t.cpu}${"  ".repeat(t.depth)} ${t.layer}.${t.name}`);
      }
    }
    const bad = r.runs.filter((x) => x.reproduced !== x.enabled);
    out(
      bad.length === 0
        ? "verdict: reproduced with the erratum on, clean with it off, on every applicable combination"
        : `verdict: ${bad.length} run(s) did not behave as expected`,
    );
  }
  return reports;
}
