/**
 * The comparison view: a benchmark report (`vmlab bench --json`, loaded from a file or from the
 * URL in ?bench=, or produced by a quick run in the page) charted with uPlot — for the chosen
 * workload, one bar chart per chosen metric, one bar per combination.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { type BenchReport, metricsOf, parseBenchReport, quickBench, series, workloadsOf } from "../../model/bench.js";
import { h } from "../dom.js";

/** 2400000 → "2.4M": axis labels that fit. */
function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(4));
}

/** Shown first: @vmlab/bench's headline metrics, then the kernel's own counter names. */
const DEFAULT_METRICS = ["sim.cycles", "tlb.miss", "fault.zerofill", "pv.live.peak", "cpu.cycles", "hostMs"];

export class CompareView {
  report: BenchReport | undefined;
  source = "";
  workload = "";
  metrics = new Set<string>();
  private plots: uPlot[] = [];
  readonly el = h("section", { class: "view", id: "view-compare" });

  constructor(private readonly onChange: () => void) {}

  /** Load a report from a URL (the ?bench= parameter). */
  async fetchReport(url: string): Promise<void> {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    this.setReport(parseBenchReport(await res.text()), url);
  }

  setReport(rep: BenchReport, source: string): void {
    this.report = rep;
    this.source = source;
    const ws = workloadsOf(rep);
    if (!ws.includes(this.workload)) this.workload = ws[0] ?? "";
    this.pickMetrics();
    this.onChange();
  }

  private pickMetrics(): void {
    if (!this.report) return;
    const have = metricsOf(this.report, this.workload);
    const keep = [...this.metrics].filter((m) => have.includes(m));
    this.metrics = new Set(keep.length ? keep : DEFAULT_METRICS.filter((m) => have.includes(m)).slice(0, 4));
  }

  render(): HTMLElement {
    for (const p of this.plots) p.destroy();
    this.plots = [];
    const file = h("input", { type: "file", id: "bench-file", accept: "application/json,.json" });
    file.addEventListener("change", async () => {
      const f = file.files?.[0];
      if (!f) return;
      try {
        this.setReport(parseBenchReport(await f.text()), f.name);
      } catch (e) {
        alert(String(e));
      }
    });
    const run = h("button", { id: "bench-run", type: "button" }, "quick run in the page (all combinations, scale 1)");
    run.addEventListener("click", () => {
      run.textContent = "running…";
      quickBench((done, total) => {
        run.textContent = `running… ${done}/${total}`;
      })
        .then((rep) => this.setReport(rep, "quick run in the page"))
        .catch((e: unknown) => {
          run.textContent = `quick run failed: ${String(e)}`;
        });
    });
    this.el.replaceChildren(
      h("div", { class: "toolbar" }, h("label", {}, "report from `vmlab bench --json`: ", file), " or ", run),
    );
    const rep = this.report;
    if (!rep) {
      this.el.append(h("p", { class: "note" }, "no report loaded"));
      return this.el;
    }
    const wsel = h("select", { id: "bench-workload" });
    for (const w of workloadsOf(rep)) wsel.append(h("option", { value: w, selected: w === this.workload }, w));
    wsel.addEventListener("change", () => {
      this.workload = wsel.value;
      this.pickMetrics();
      this.onChange();
    });
    const boxes = h("div", { class: "metric-boxes" });
    for (const m of metricsOf(rep, this.workload)) {
      const cb = h("input", { type: "checkbox", value: m, checked: this.metrics.has(m) });
      cb.addEventListener("change", () => {
        if (cb.checked) this.metrics.add(m);
        else this.metrics.delete(m);
        this.onChange();
      });
      boxes.append(h("label", { class: "metric" }, cb, m));
    }
    this.el.append(
      h("p", {}, `source: ${this.source} — ${rep.results.length} results; workload `, wsel),
      h("details", {}, h("summary", {}, "metrics"), boxes),
    );
    const charts = h("div", { class: "charts", id: "bench-charts" });
    this.el.append(charts);
    for (const m of this.metrics) charts.append(this.chart(rep, m));
    return this.el;
  }

  private chart(rep: BenchReport, metric: string): HTMLElement {
    const { labels, values } = series(rep, this.workload, metric);
    const box = h("div", { class: "chart", "data-metric": metric });
    const xs = labels.map((_, i) => i);
    const bars = uPlot.paths.bars?.({ size: [0.6, 60] });
    const plot = new uPlot(
      {
        title: `${this.workload}: ${metric}`,
        width: 490,
        height: 260,
        legend: { show: false },
        padding: [8, 90, 0, 0],
        scales: {
          x: { time: false, range: [-0.5, labels.length - 0.5] },
          // Bars start at zero, or the chart exaggerates differences.
          y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] },
        },
        axes: [
          {
            // One labelled tick per combination.
            splits: () => xs,
            values: (_u, splits) => splits.map((i) => (Number.isInteger(i) ? (labels[i] ?? "") : "")),
            rotate: -45,
            size: 100,
            gap: 2,
            font: "10px system-ui, sans-serif",
          },
          { size: 80, values: (_u, splits) => splits.map(compact) },
        ],
        series: [
          {},
          {
            label: metric,
            fill: "#729fcfaa",
            stroke: "#3465a4",
            ...(bars ? { paths: bars } : {}),
            points: { show: false },
          },
        ],
      },
      [xs, values],
      box,
    );
    this.plots.push(plot);
    return box;
  }
}
