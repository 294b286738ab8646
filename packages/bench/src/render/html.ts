/**
 * The HTML report (report/index.html): one self-contained page — uPlot's JS and CSS inlined, the
 * data as embedded JSON, no external URL — so it opens offline from the file system. It shows
 * the primary figure as a shaded table, the expectations, one chart per metric across the
 * combinations (a bar per workload, relative to that workload's mean or absolute on a log
 * scale), every figure in per-workload tables, the metric definitions and the failed cells.
 *
 * The builder is isomorphic: the caller supplies uPlot's files (the CLI reads them from the
 * `uplot` package `@vmlab/bench` depends on).
 */
import { evaluateExpectations } from "../expectations.js";
import { METRICS, type MetricDef } from "../metrics.js";
import type { BenchReport } from "../runner.js";
import { cellIndex, comboLabel, combosOf, errorsOf, formatMetric, workloadsOf } from "./table.js";

export interface HtmlAssets {
  /** uplot/dist/uPlot.iife.min.js */
  readonly uplotJs: string;
  /** uplot/dist/uPlot.min.css */
  readonly uplotCss: string;
}

const GROUPS: Record<MetricDef["group"], string> = {
  time: "Simulated time",
  tlb: "TLB, walks and shootdowns",
  faults: "Page faults",
  pmap: "pmap: windows, pv entries, page tables, superpages",
  vm: "VM: maps, objects, amaps, wiring",
  paging: "Paging",
  host: "Simulator speed (host)",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Text that is safe inside a <script> element. */
const scriptSafe = (s: string) => s.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");

/** The metrics with at least one value in the report, in the table's order. */
export function chartedMetrics(report: BenchReport): MetricDef[] {
  return METRICS.filter((m) => report.results.some((r) => r.metrics[m.name] !== undefined));
}

/** The chart data: per metric, per workload, one value (or null) per combination. */
function chartData(report: BenchReport, metrics: readonly MetricDef[]) {
  const combos = combosOf(report);
  const workloads = workloadsOf(report);
  const at = cellIndex(report);
  const values: Record<string, Record<string, (number | null)[]>> = {};
  for (const m of metrics) {
    const per: Record<string, (number | null)[]> = {};
    for (const w of workloads) {
      const col = combos.map((c) => at(c, w)?.metrics[m.name] ?? null);
      if (col.some((v) => v !== null)) per[w] = col;
    }
    values[m.name] = per;
  }
  return { combos: combos.map(comboLabel), workloads, values };
}

/** The shaded table of one metric: a cell's shade is its value relative to the column's best. */
function heatTable(report: BenchReport, metric: string): string {
  const combos = combosOf(report);
  const workloads = workloadsOf(report);
  const at = cellIndex(report);
  const best = workloads.map((w) => {
    const vs = combos.map((c) => at(c, w)?.metrics[metric]).filter((v): v is number => v !== undefined && v > 0);
    return vs.length ? Math.min(...vs) : 0;
  });
  const head = `<tr><th>machine/pmap/vm</th>${workloads.map((w) => `<th>${esc(w)}</th>`).join("")}</tr>`;
  const rows = combos.map((c) => {
    const cells = workloads.map((w, i) => {
      const r = at(c, w);
      if (r?.error !== undefined) return `<td class="err" title="${esc(r.error)}">error</td>`;
      const v = r?.metrics[metric];
      if (v === undefined) return `<td class="absent">—</td>`;
      const b = best[i] as number;
      const rel = b > 0 ? v / b : 1;
      // 1× best is white, 2× and beyond saturate.
      const shade = Math.min(1, Math.max(0, rel - 1));
      return `<td style="background:rgba(230,120,40,${(shade * 0.55).toFixed(3)})" title="${rel.toFixed(2)}× the best">${esc(formatMetric(r, metric))}</td>`;
    });
    return `<tr><th>${esc(comboLabel(c))}</th>${cells.join("")}</tr>`;
  });
  return `<table class="heat"><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`;
}

/** Every figure of one workload: metrics (rows) × combinations (columns). */
function workloadTable(report: BenchReport, workload: string, metrics: readonly MetricDef[]): string {
  const combos = combosOf(report);
  const at = cellIndex(report);
  const head = `<tr><th>metric</th>${combos.map((c) => `<th>${esc(comboLabel(c)).replace(/\//g, "/<wbr>")}</th>`).join("")}</tr>`;
  const names = [...metrics.map((m) => m.name)];
  for (const r of report.results)
    if (r.workload === workload) for (const k of Object.keys(r.metrics)) if (!names.includes(k)) names.push(k);
  const rows = names
    .filter((k) => combos.some((c) => at(c, workload)?.metrics[k] !== undefined))
    .map(
      (k) =>
        `<tr><th title="${esc(k)}">${esc(k)}</th>${combos.map((c) => `<td>${esc(formatMetric(at(c, workload), k))}</td>`).join("")}</tr>`,
    );
  return `<table class="data"><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`;
}

function metricGlossary(report: BenchReport): string {
  const rows = METRICS.map((m) => {
    const have = report.results.filter((r) => r.metrics[m.name] !== undefined).length;
    return `<tr><td><code>${esc(m.name)}</code></td><td>${esc(m.label)}</td><td>${esc(m.unit)}</td><td>${m.kind}</td><td>${esc(m.description)}</td><td>${m.sources.map((s) => `<code>${esc(s)}</code>`).join(", ")}</td><td>${esc(m.providers)}</td><td>${have}/${report.results.length}</td></tr>`;
  });
  return `<table class="glossary"><thead><tr><th>name</th><th>what</th><th>unit</th><th>kind</th><th>meaning</th><th>from</th><th>provided by</th><th>cells</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function chartsSection(metrics: readonly MetricDef[]): string {
  const out: string[] = [];
  for (const g of Object.keys(GROUPS) as MetricDef["group"][]) {
    const ms = metrics.filter((m) => m.group === g);
    if (ms.length === 0) continue;
    out.push(`<h3>${esc(GROUPS[g])}</h3><div class="charts">`);
    for (const m of ms) {
      out.push(
        `<figure class="chart" data-metric="${esc(m.name)}" data-unit="${esc(m.unit)}"><figcaption><b>${esc(m.label)}</b> <code>${esc(m.name)}</code> (${esc(m.unit)}) — ${esc(m.description)}</figcaption><div class="plot"></div></figure>`,
      );
    }
    out.push("</div>");
  }
  return out.join("\n");
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#fafbfc}
header,main{max-width:1400px;margin:0 auto;padding:0 24px}
header{padding-top:20px}
h1{font-size:24px;margin:0 0 4px}h2{margin-top:36px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
nav a{margin-right:14px}
.meta{color:#4a5568}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;background:#fff}
th,td{border:1px solid #e1e5ec;padding:3px 7px;text-align:right;white-space:nowrap}
thead th{background:#f0f3f7;position:sticky;top:0}
tbody th{text-align:left;font-weight:600}
td.absent{color:#9aa5b5;text-align:center}td.err{background:#fde2e2;color:#9b1c1c;text-align:center;cursor:help}
.scroll{overflow-x:auto;max-width:100%}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(640px,1fr));gap:18px}
figure.chart{margin:0;background:#fff;border:1px solid #e1e5ec;border-radius:6px;padding:10px}
figcaption{font-size:13px;margin-bottom:6px;color:#2d3748}
.controls{margin:8px 0 14px}
ul.expect li{margin:4px 0}.pass{color:#17702f}.fail{color:#b42318;font-weight:600}.na{color:#6b7280}
table.glossary td{white-space:normal;text-align:left;vertical-align:top}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
.u-legend{font-size:12px}.u-legend .u-series th{font-weight:500}
`;

/** The page's own script: builds the charts from the embedded JSON with uPlot. */
const CLIENT = `
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("bench-data").textContent);
  var combos = data.combos, values = data.values;
  var palette = ["#4269d0","#efb118","#ff725c","#6cc5b0","#3ca951","#ff8ab7","#a463f2","#97bbf5","#9c6b4e","#9498a0"];
  var mode = "relative";
  var built = [];
  function fmt(v) {
    if (v === null || v === undefined) return "\\u2014";
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }
  function shown(col) {
    if (mode === "log") return col.map(function (v) { return v === null || v <= 0 ? null : v; });
    var vs = col.filter(function (v) { return v !== null; });
    var mean = vs.reduce(function (a, b) { return a + b; }, 0) / (vs.length || 1);
    return col.map(function (v) { return v === null ? null : mean === 0 ? 0 : v / mean; });
  }
  function build(fig) {
    var per = values[fig.getAttribute("data-metric")] || {};
    var ws = Object.keys(per);
    var x = combos.map(function (_, i) { return i; });
    var group = 0.8, n = Math.max(1, ws.length), w = group / n;
    var bars = uPlot.paths.bars({
      size: [w, Infinity],
      disp: {
        x0: { unit: 1, values: function (u, si) { return x.map(function (i) { return i - group / 2 + (si - 1) * w; }); } },
        size: { unit: 1, values: function () { return x.map(function () { return w; }); } }
      }
    });
    var series = [{ label: "combination", value: function (u, v) { return v === null || v === undefined ? "" : combos[v]; } }];
    ws.forEach(function (name, k) {
      series.push({
        label: name, fill: palette[k % palette.length], stroke: palette[k % palette.length], width: 0,
        paths: bars, points: { show: false },
        value: function (u, v, si, i) { return i === null || i === undefined ? "" : fmt(per[name][i]); }
      });
    });
    var el = fig.querySelector(".plot");
    el.innerHTML = "";
    var opts = {
      width: Math.max(320, el.clientWidth || 640), height: 330,
      scales: {
        x: { time: false, range: [-0.5, combos.length - 0.5] },
        y: mode === "log" ? { distr: 3 } : { range: function (u, min, max) { return [0, Math.max(max, 1) * 1.05]; } }
      },
      axes: [
        { splits: function () { return x; }, values: function (u, sp) { return sp.map(function (i) { return combos[i] || ""; }); },
          rotate: 45, size: 120, gap: 4, font: "11px system-ui", grid: { show: false } },
        { label: mode === "log" ? fig.getAttribute("data-unit") : "\\u00d7 mean over combinations", size: 64 }
      ],
      series: series,
      legend: { live: true },
      cursor: { points: { show: false }, drag: { x: false, y: false } }
    };
    return new uPlot(opts, [x].concat(ws.map(function (name) { return shown(per[name]); })), el);
  }
  function buildAll() {
    built.forEach(function (u) { u.destroy(); });
    built = Array.prototype.map.call(document.querySelectorAll("figure.chart"), build);
  }
  document.getElementById("mode").addEventListener("change", function (e) { mode = e.target.value; buildAll(); });
  buildAll();
})();
`;

/** The whole page. */
export function renderHtml(report: BenchReport, assets: HtmlAssets): string {
  const m = report.meta;
  const combos = combosOf(report);
  const workloads = workloadsOf(report);
  const metrics = chartedMetrics(report);
  const errs = errorsOf(report);
  const audits = report.results.filter((r) => r.audit !== undefined);
  const expectations = evaluateExpectations(report);
  const cls = { pass: "pass", fail: "fail", "n/a": "na" } as const;
  const data = JSON.stringify(chartData(report, metrics)).replace(/</g, "\\u003c");
  const json = JSON.stringify(report).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vmlab bench — ${combos.length} combinations × ${workloads.length} workloads</title>
<style>${scriptSafe(assets.uplotCss)}</style>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>vmlab — comparative benchmark</h1>
<p class="meta">${combos.length} combinations × ${workloads.length} workloads · scale ${m.scale} · seed ${m.seed}${m.date ? ` · ${esc(m.date)}` : ""}${m.host ? ` · ${esc(m.host)}` : ""} · ${(m.hostMs / 1000).toFixed(1)} s host time${m.command ? ` · reproduce: <code>${esc(m.command)}</code>` : ""}</p>
<nav><a href="#cycles">Simulated cycles</a><a href="#expectations">Expectations</a><a href="#charts">Charts</a><a href="#figures">All figures</a><a href="#metrics">Metrics</a><a href="#errors">Failed cells (${errs.length})</a><a href="#audits">Audit findings (${audits.length})</a></nav>
</header>
<main>
<section id="cycles">
<h2>Simulated cycles</h2>
<p>The primary figure: cycles charged by the cost model on every CPU — exact and repeatable for a seed and scale. Shading grows with the distance from the best combination of each workload (white = best, full = 2× or more).</p>
<div class="scroll">${heatTable(report, "sim.cycles")}</div>
</section>
<section id="expectations">
<h2>Expectations</h2>
<ul class="expect">${expectations.map((e) => `<li class="${cls[e.status]}"><b>${e.status.toUpperCase()}</b> — ${esc(e.title)}. <span>${esc(e.detail)}</span></li>`).join("")}</ul>
</section>
<section id="charts">
<h2>Metrics across combinations</h2>
<p class="controls">One chart per metric; a bar per workload and combination. <label>Bars show <select id="mode"><option value="relative">the value relative to the workload's mean over the combinations</option><option value="log">the absolute value (log scale)</option></select></label>. The legend gives the exact value under the cursor; a missing bar means the combination's parts do not provide the metric, or the cell failed.</p>
${chartsSection(metrics)}
</section>
<section id="figures">
<h2>All figures</h2>
${workloads.map((w) => `<details><summary>${esc(w)}</summary><div class="scroll">${workloadTable(report, w, metrics)}</div></details>`).join("\n")}
</section>
<section id="metrics">
<h2>Metric definitions</h2>
<p>Each metric is computed from counters the parts register; a part that does not register them has the metric absent (—), not zero. <i>total</i>: the counter's change over the workload; <i>peak</i>: the largest value sampled while it ran.</p>
<div class="scroll">${metricGlossary(report)}</div>
</section>
<section id="errors">
<h2>Failed cells (${errs.length})</h2>
${errs.length === 0 ? "<p>None.</p>" : `<table class="data"><thead><tr><th>machine/pmap/vm</th><th>workload</th><th>error</th></tr></thead><tbody>${errs.map((r) => `<tr><th>${esc(comboLabel(r))}</th><td>${esc(r.workload)}</td><td style="text-align:left;white-space:normal">${esc(r.error ?? "")}</td></tr>`).join("")}</tbody></table>`}
</section>
<section id="audits">
<h2>Audit findings (${audits.length})</h2>
<p>Every layer's audit runs at the workloads' sample points and after each workload; the first invariant violation of a cell is listed here. The cell's figures stand (its workload's own checks passed).</p>
${audits.length === 0 ? "<p>None.</p>" : `<table class="data"><thead><tr><th>machine/pmap/vm</th><th>workload</th><th>finding</th></tr></thead><tbody>${audits.map((r) => `<tr><th>${esc(comboLabel(r))}</th><td>${esc(r.workload)}</td><td style="text-align:left;white-space:normal">${esc(r.audit ?? "")}</td></tr>`).join("")}</tbody></table>`}
</section>
</main>
<script>${scriptSafe(assets.uplotJs)}</script>
<script type="application/json" id="bench-data">${data}</script>
<script type="application/json" id="bench-report">${json}</script>
<script>${CLIENT}</script>
</body>
</html>
`;
}
