/**
 * The explorer's page: the run controls (combination, memory, CPUs, seed, scenario, erratum,
 * audits), the step bar (back to boot, step back, run / pause, step, run to the end, jump to the
 * failure), the list of recorded steps, and the views, which all show the same position.
 *
 * State lives in the URL's query string too, so a view of a given step can be linked
 * (?machine=&pmap=&vm=&scenario=&erratum=1&pos=&tab=).
 */
import { combinations, KNOWN_ERRATA } from "vmlab";
import { processes } from "../inspect/parts.js";
import { scenarios } from "../model/scenario.js";
import { type Recording, type Replayed, type RunConfig, record, replay } from "../model/session.js";
import type { TabId, ViewContext } from "./context.js";
import { h } from "./dom.js";
import { renderAddressSpace } from "./views/address.js";
import { CompareView } from "./views/compare.js";
import { renderCounters } from "./views/counters.js";
import { renderPageTables } from "./views/pagetables.js";
import { renderPhysMem } from "./views/physmem.js";
import { renderPv } from "./views/pv.js";
import { renderTlb } from "./views/tlb.js";
import { renderTrace } from "./views/trace.js";

const TABS: { id: TabId; label: string }[] = [
  { id: "address", label: "Address space" },
  { id: "pagetables", label: "Page tables" },
  { id: "tlb", label: "TLBs" },
  { id: "physmem", label: "Physical memory" },
  { id: "pv", label: "pv list" },
  { id: "trace", label: "Trace" },
  { id: "counters", label: "Counters" },
  { id: "compare", label: "Comparison" },
];

const PLAY_MS = 120;

export class App {
  private rec: Recording | undefined;
  private live: Replayed | undefined;
  private position = 0;
  private tab: TabId = "address";
  private pid: number | undefined;
  private pa: number | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** ?bench=: a report to load into the comparison view (kept in the URL). */
  private benchUrl: string | undefined;
  private readonly compare = new CompareView(() => this.renderView());

  private readonly el = {
    machine: h("select", { id: "machine" }),
    pmap: h("select", { id: "pmap" }),
    vm: h("select", { id: "vm" }),
    memory: h("select", { id: "memory" }),
    cpus: h("select", { id: "cpus" }),
    seed: h("input", { id: "seed", type: "number", value: "1", min: "0", step: "1" }),
    scenario: h("select", { id: "scenario" }),
    erratum: h("input", { id: "erratum", type: "checkbox", checked: true }),
    audit: h("input", { id: "audit", type: "checkbox" }),
    load: h("button", { id: "load", type: "button" }, "Load"),
    boot: h("button", { id: "boot", type: "button", title: "back to boot" }, "|◀ boot"),
    back: h("button", { id: "back", type: "button", title: "step back" }, "◀"),
    play: h("button", { id: "play", type: "button", title: "run / pause" }, "▶ run"),
    step: h("button", { id: "step", type: "button", title: "one step" }, "step ▶"),
    end: h("button", { id: "end", type: "button", title: "to the last step" }, "end ▶|"),
    jump: h(
      "button",
      { id: "jump", type: "button", title: "jump to the step where something went wrong" },
      "⚠ jump to failure",
    ),
    slider: h("input", { id: "position", type: "range", min: "0", max: "0", value: "0" }),
    where: h("span", { id: "position-label" }),
    status: h("div", { id: "status" }),
    panic: h("div", { id: "panic", hidden: true }),
    steps: h("ol", { id: "steps" }),
    tabs: h("nav", { id: "tabs" }),
    view: h("main", { id: "view" }),
    errataNote: h("span", { id: "erratum-note", class: "note" }),
  };

  mount(root: HTMLElement): void {
    const e = this.el;
    const combos = combinations();
    const uniq = (xs: string[]) => [...new Set(xs)];
    const fill = (sel: HTMLSelectElement, values: (string | number)[], label = (v: string | number) => String(v)) =>
      sel.replaceChildren(...values.map((v) => h("option", { value: String(v) }, label(v))));
    fill(e.machine, uniq(combos.map((c) => c.machine)));
    fill(e.pmap, uniq(combos.map((c) => c.pmap)));
    fill(e.vm, uniq(combos.map((c) => c.vm)));
    fill(e.memory, [8, 16, 32, 64], (v) => `${v} MiB`);
    fill(e.cpus, [1, 2, 4]);
    e.memory.value = "16";
    const groups = new Map<string, HTMLOptGroupElement>();
    for (const s of scenarios()) {
      const label = s.kind === "reproducer" ? "Erratum reproducers" : "Workloads";
      let g = groups.get(label);
      if (!g) {
        g = h("optgroup", { label });
        groups.set(label, g);
        e.scenario.append(g);
      }
      g.append(h("option", { value: s.id, title: s.description }, s.title));
    }
    // Open on a system that works; the reproducers are one choice away.
    if ([...e.scenario.options].some((o) => o.value === "fork-cow-small")) e.scenario.value = "fork-cow-small";
    this.readUrl();
    for (const t of TABS) {
      e.tabs.append(
        h("button", { type: "button", id: `tab-${t.id}`, class: "tab", onclick: () => this.showTab(t.id) }, t.label),
      );
    }
    e.load.addEventListener("click", () => this.load());
    e.boot.addEventListener("click", () => this.go(0));
    e.back.addEventListener("click", () => this.go(this.position - 1));
    e.step.addEventListener("click", () => this.go(this.position + 1));
    e.end.addEventListener("click", () => this.go(this.rec?.steps.length ?? 0));
    e.jump.addEventListener("click", () => {
      if (this.rec?.failure !== undefined) this.go(this.rec.failure);
    });
    e.play.addEventListener("click", () => (this.timer ? this.pause() : this.play()));
    e.slider.addEventListener("input", () => this.go(Number(e.slider.value)));
    e.scenario.addEventListener("change", () => this.describeScenario());
    this.describeScenario();

    root.replaceChildren(
      h(
        "header",
        {},
        h("h1", {}, "vmlab explorer"),
        h(
          "div",
          { class: "controls" },
          h("label", {}, "machine ", e.machine),
          h("label", {}, "pmap ", e.pmap),
          h("label", {}, "VM ", e.vm),
          h("label", {}, "RAM ", e.memory),
          h("label", {}, "CPUs ", e.cpus),
          h("label", {}, "seed ", e.seed),
          h("label", {}, "scenario ", e.scenario),
          h("label", { title: "switch the reproducer's erratum on" }, e.erratum, " erratum on"),
          h("label", { title: "run every layer's audit after each step" }, e.audit, " audit each step"),
          e.load,
          e.errataNote,
        ),
        h("div", { class: "stepbar" }, e.boot, e.back, e.play, e.step, e.end, e.jump, e.slider, e.where),
        e.status,
        e.panic,
      ),
      h(
        "div",
        { class: "body" },
        h("aside", {}, h("h2", {}, "Steps"), e.steps),
        h("div", { class: "main" }, e.tabs, e.view),
      ),
    );
    const bench = this.benchUrl;
    this.load();
    if (bench) this.compare.fetchReport(bench).catch((err: unknown) => this.setStatus(`bench report: ${String(err)}`));
  }

  private readUrl(): void {
    const q = new URLSearchParams(location.search);
    const e = this.el;
    const set = (sel: HTMLSelectElement, v: string | null) => {
      if (v !== null && [...sel.options].some((o) => o.value === v)) sel.value = v;
    };
    set(e.machine, q.get("machine"));
    set(e.pmap, q.get("pmap"));
    set(e.vm, q.get("vm"));
    set(e.memory, q.get("memory"));
    set(e.cpus, q.get("cpus"));
    set(e.scenario, q.get("scenario"));
    if (q.has("seed")) e.seed.value = q.get("seed") ?? "1";
    if (q.has("erratum")) e.erratum.checked = q.get("erratum") === "1";
    if (q.has("audit")) e.audit.checked = q.get("audit") === "1";
    this.benchUrl = q.get("bench") ?? undefined;
    const tab = q.get("tab");
    if (tab && TABS.some((t) => t.id === tab)) this.tab = tab as TabId;
    const pos = Number(q.get("pos"));
    if (Number.isInteger(pos) && pos > 0) this.position = pos;
  }

  private writeUrl(): void {
    const c = this.config();
    const q = new URLSearchParams({
      machine: c.machine,
      pmap: c.pmap,
      vm: c.vm,
      memory: String(c.memoryMiB),
      cpus: String(c.cpus),
      seed: String(c.seed),
      scenario: c.scenario,
      erratum: c.erratumOn ? "1" : "0",
      audit: c.audit ? "1" : "0",
      pos: String(this.position),
      tab: this.tab,
      ...(this.benchUrl ? { bench: this.benchUrl } : {}),
    });
    history.replaceState(null, "", `?${q}`);
  }

  private config(): RunConfig {
    const e = this.el;
    return {
      machine: e.machine.value,
      pmap: e.pmap.value,
      vm: e.vm.value,
      memoryMiB: Number(e.memory.value),
      cpus: Number(e.cpus.value),
      seed: Number(e.seed.value) | 0,
      scenario: e.scenario.value,
      erratumOn: e.erratum.checked,
      audit: e.audit.checked,
    };
  }

  private describeScenario(): void {
    const s = scenarios().find((x) => x.id === this.el.scenario.value);
    const known = KNOWN_ERRATA.length ? "" : " (the errata catalogue is empty)";
    this.el.errataNote.textContent =
      s?.kind === "reproducer"
        ? s.standIn
          ? `stand-in reproducer${known}: "erratum on" performs its breakage; expected: ${s.expect?.panic ?? "failure"}`
          : `errata: ${s.errata.join(", ")}`
        : "";
  }

  private setStatus(text: string): void {
    this.el.status.textContent = text;
  }

  /** Record the chosen scenario on the chosen combination, then show the requested position. */
  load(): void {
    this.pause();
    document.body.dataset.state = "loading";
    this.setStatus("recording…");
    // Let the page repaint before a long recording blocks it.
    setTimeout(() => this.record(), 10);
  }

  private record(): void {
    const c = this.config();
    try {
      const t0 = performance.now();
      this.rec = record(c);
      const ms = performance.now() - t0;
      const r = this.rec;
      const sc = r.system;
      this.setStatus(
        `${sc.machine}/${sc.pmap}/${sc.vm}, ${sc.memoryMiB} MiB, ${sc.cpus} CPU, seed ${sc.seed}: ${r.steps.length} steps recorded in ${ms.toFixed(0)} ms — ${r.end.kind === "ok" ? "completed" : r.end.message}`,
      );
    } catch (err) {
      this.rec = undefined;
      this.live = undefined;
      this.setStatus(`cannot run: ${String(err)}`);
      this.renderSteps();
      this.renderView();
      document.body.dataset.state = "error";
      return;
    }
    this.live = undefined;
    this.renderSteps();
    this.renderPanic();
    this.go(Math.min(this.position, this.rec.steps.length));
  }

  private renderPanic(): void {
    const r = this.rec;
    const p = this.el.panic;
    if (!r || r.failure === undefined) {
      p.hidden = true;
      delete p.dataset.position;
      document.body.dataset.failure = "";
      return;
    }
    const s = r.steps[r.failure - 1];
    const msg = s?.outcome.kind !== "ok" ? s?.outcome.message : (s?.violation ?? r.end.message);
    p.hidden = false;
    p.dataset.position = String(r.failure);
    p.dataset.kind = s?.outcome.kind === "ok" ? "violation" : (s?.outcome.kind ?? "error");
    p.replaceChildren(
      h("strong", {}, msg ?? "failure"),
      ` at step ${r.failure}: ${s?.label ?? ""} `,
      h("button", { type: "button", onclick: () => this.go(r.failure ?? 0) }, "show"),
    );
    document.body.dataset.failure = String(r.failure);
  }

  private renderSteps(): void {
    const list = this.el.steps;
    list.replaceChildren();
    const r = this.rec;
    if (!r) return;
    list.append(h("li", { "data-position": 0, class: "boot", onclick: () => this.go(0) }, "boot"));
    // Long runs: list every step around failures and the first/last ones, the slider reaches the rest.
    const n = r.steps.length;
    for (const s of r.steps) {
      const near = s.position <= 300 || s.position > n - 50 || s.outcome.kind !== "ok" || s.violation !== undefined;
      if (!near) continue;
      const cls = [
        s.outcome.kind === "ok" ? "" : `outcome-${s.outcome.kind}`,
        s.violation ? "violation" : "",
        s.position === r.failure ? "failure" : "",
      ].join(" ");
      list.append(
        h(
          "li",
          {
            "data-position": s.position,
            class: cls,
            title: s.outcome.message || s.violation || "",
            onclick: () => this.go(s.position),
          },
          h("span", { class: "pos" }, String(s.position)),
          " ",
          s.label,
          s.outcome.kind !== "ok" ? h("span", { class: "outcome" }, ` → ${s.outcome.message}`) : null,
          s.violation ? h("span", { class: "outcome" }, ` audit: ${s.violation}`) : null,
        ),
      );
    }
    if (n > 350) list.append(h("li", { class: "note" }, `${n} steps: use the slider for the ones not listed`));
    this.el.slider.max = String(n);
  }

  /** Move every view to `position` (replaying the system there). */
  go(position: number): void {
    const r = this.rec;
    if (!r) return;
    const pos = Math.max(0, Math.min(position, r.steps.length));
    this.position = pos;
    if (this.live?.position !== pos) this.live = replay(r, pos);
    const procs = processes(this.live.sys);
    if (this.pid === undefined || !procs.some((p) => p.pid === this.pid)) {
      const stepPid = r.steps[pos - 1]?.pid;
      this.pid = procs.some((p) => p.pid === stepPid) ? stepPid : procs[0]?.pid;
    }
    this.el.slider.value = String(pos);
    const s = r.steps[pos - 1];
    this.el.where.textContent = `step ${pos} / ${r.steps.length}${s ? `: ${s.label}` : " (boot)"}`;
    for (const li of this.el.steps.querySelectorAll("li.current")) li.classList.remove("current");
    const cur = this.el.steps.querySelector(`li[data-position="${pos}"]`);
    cur?.classList.add("current");
    cur?.scrollIntoView({ block: "nearest" });
    const failed = r.failure !== undefined && pos >= r.failure;
    document.body.dataset.position = String(pos);
    document.body.dataset.state = failed ? "failed" : "ready";
    if (this.live.divergence.length)
      this.setStatus(`replay diverged from the recording: ${this.live.divergence.slice(0, 3).join("; ")}`);
    this.el.step.toggleAttribute("disabled", pos >= r.steps.length);
    this.el.back.toggleAttribute("disabled", pos === 0);
    this.el.jump.toggleAttribute("disabled", r.failure === undefined);
    this.writeUrl();
    this.renderView();
  }

  private play(): void {
    const r = this.rec;
    if (!r) return;
    if (this.position >= r.steps.length) this.go(0);
    this.el.play.textContent = "⏸ pause";
    this.timer = setInterval(() => {
      const stopAt = r.failure ?? r.steps.length;
      if (this.position >= stopAt || this.position >= r.steps.length) this.pause();
      else this.go(this.position + 1);
    }, PLAY_MS);
  }

  private pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.el.play.textContent = "▶ run";
  }

  private showTab(tab: TabId): void {
    this.tab = tab;
    this.writeUrl();
    this.renderView();
  }

  private context(): ViewContext | undefined {
    const r = this.rec;
    const live = this.live;
    if (!r || !live) return undefined;
    const pos = this.position;
    return {
      rec: r,
      position: pos,
      sys: live.sys,
      step: r.steps[pos - 1],
      prevCounters: pos <= 1 ? r.bootCounters : (r.steps[pos - 2]?.counters ?? {}),
      pid: this.pid,
      pa: this.pa,
      selectPid: (pid) => {
        this.pid = pid;
        this.renderView();
      },
      selectFrame: (pa) => {
        this.pa = pa;
        this.showTab("pv");
      },
      showTab: (t) => this.showTab(t),
    };
  }

  private renderView(): void {
    for (const b of this.el.tabs.querySelectorAll("button")) b.classList.toggle("active", b.id === `tab-${this.tab}`);
    document.body.dataset.tab = this.tab;
    if (this.tab === "compare") {
      this.el.view.replaceChildren(this.compare.render());
      return;
    }
    const ctx = this.context();
    if (!ctx) {
      this.el.view.replaceChildren(h("p", { class: "note" }, "nothing loaded"));
      return;
    }
    const banner =
      ctx.step && ctx.step.outcome.kind !== "ok"
        ? h(
            "div",
            { class: `step-outcome outcome-${ctx.step.outcome.kind}`, id: "step-outcome" },
            `this step ended: ${ctx.step.outcome.message}`,
          )
        : null;
    const render = {
      address: renderAddressSpace,
      pagetables: renderPageTables,
      tlb: renderTlb,
      physmem: renderPhysMem,
      pv: renderPv,
      trace: renderTrace,
      counters: renderCounters,
    }[this.tab];
    try {
      this.el.view.replaceChildren(...(banner ? [banner] : []), render(ctx));
    } catch (err) {
      this.el.view.replaceChildren(h("p", { class: "note" }, `this view failed: ${String(err)}`));
      throw err;
    }
  }
}
