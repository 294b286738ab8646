import { describe, expect, it } from "vitest";
import { METRICS, renderHtml, renderMarkdown, summaryTable } from "../src/index.js";
import { chartedMetrics } from "../src/render/html.js";
import { syntheticReport, uplotAssets } from "./support.js";

const WORKLOADS = ["seq-touch", "fork-cow"];
const report = syntheticReport(WORKLOADS, (c, w, i) =>
  c.machine === "amd64" && c.pmap === "cranor" && w === "fork-cow"
    ? undefined
    : {
        "sim.cycles": 1_000_000 + i * 1000,
        "tlb.miss": 500 + i,
        "fault.zerofill": 256,
        ...(c.pmap === "mach" ? { "window.switch": 11 } : {}),
        "window.flush": c.pmap === "cranor" ? 6 : 15,
        "host.ms": 12.5,
      },
);
report.results[0] = {
  ...(report.results[0] as (typeof report.results)[0]),
  audit: "after the workload: machine: TLB coherence: stale 0xffbf6000",
};

describe("the HTML report", () => {
  const html = renderHtml(report, uplotAssets());

  it("is self-contained: uPlot's code and stylesheet inline, no external resource", () => {
    expect(html).toContain("var uPlot=function()");
    expect(html).toContain(".uplot");
    expect(html).not.toMatch(/<script[^>]*\ssrc=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import/);
    // The only URL is uPlot's licence banner, in a comment.
    const urls = html.match(/https?:\/\/[^\s"'<>)]+/g) ?? [];
    expect(urls.every((u) => u.startsWith("https://github.com/leeoniya/uPlot"))).toBe(true);
  });

  it("draws one chart per metric that has a value, and none for absent metrics", () => {
    const charted = chartedMetrics(report).map((m) => m.name);
    expect([...charted].sort()).toEqual([
      "fault.zerofill",
      "host.ms",
      "sim.cycles",
      "tlb.miss",
      "window.flush",
      "window.switch",
    ]);
    const figs = [...html.matchAll(/<figure class="chart" data-metric="([^"]+)"/g)].map((m) => m[1]);
    expect(figs).toHaveLength(charted.length);
    expect([...figs].sort()).toEqual([...charted].sort());
    expect(figs).not.toContain("pv.alloc");
  });

  it("embeds the report as JSON that parses back to the same object", () => {
    const json = html.match(/<script type="application\/json" id="bench-report">([\s\S]*?)<\/script>/)?.[1];
    expect(JSON.parse(json as string)).toEqual(report);
    const data = JSON.parse(html.match(/id="bench-data">([\s\S]*?)<\/script>/)?.[1] as string);
    expect(data.combos).toEqual(["i386/mach/mach", "i386/cranor/mach", "amd64/mach/mach", "amd64/cranor/mach"]);
    // A metric absent for a combination is null there, not 0.
    expect(data.values["window.switch"]["fork-cow"]).toEqual([11, null, 11, null]);
  });

  it("escapes text and lists failed cells, audit findings and every metric's definition", () => {
    expect(html).toContain("SyscallError: mmap: ENOMEM &lt;boom&gt; &amp; co");
    expect(html).not.toContain("<boom>");
    expect(html).toContain("Failed cells (1)");
    expect(html).toContain("Audit findings (1)");
    for (const m of METRICS) expect(html).toContain(`<code>${m.name}</code>`);
    expect(html).toContain('class="err"');
  });
});

describe("the Markdown summary", () => {
  const md = renderMarkdown(report);

  it("says how to reproduce and tabulates simulated cycles per combination and workload", () => {
    expect(md).toContain("Reproduce: `vmlab bench --scale 1 --seed 1`");
    expect(md).toContain("| machine/pmap/vm | seq-touch | fork-cow | host s |");
    expect(md).toContain("| i386/mach/mach | 1,000,000 | 1,001,000 |");
    expect(md).toContain("| amd64/cranor/mach | 1,006,000 | error |");
  });

  it("marks absent metrics with — and lists expectations, failures and audit findings", () => {
    expect(md).toMatch(/\| i386\/cranor\/mach \|[^\n]*—/);
    expect(md).toContain("✅ pass — Cranor's pmap_map_ptes");
    expect(md).toContain("### Failed cells (1)");
    expect(md).toContain("| amd64/cranor/mach | fork-cow | SyscallError: mmap: ENOMEM <boom> & co |");
    expect(md).toContain("### Audit findings (1)");
  });

  it("the terminal table has the same rows in short form", () => {
    const t = summaryTable(report);
    expect(t.head).toEqual(["machine/pmap/vm", "seq-touch", "fork-cow", "host s"]);
    expect(t.rows[0]?.slice(0, 3)).toEqual(["i386/mach/mach", "1.00M", "1.00M"]);
    expect(t.rows[3]?.[2]).toBe("error");
  });
});
