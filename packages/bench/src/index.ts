/**
 * @vmlab/bench — deterministic workloads, the metrics table, the comparative runner and its
 * reports (terminal table data, JSON, Markdown, self-contained HTML with uPlot charts). It
 * receives a system factory and the combinations to run; `vmlab` binds it to the registry.
 */
export {
  EXPECTATIONS,
  type Expectation,
  type ExpectationOutcome,
  evaluateExpectations,
} from "./expectations.js";
export { METRICS, type MetricDef, type MetricKind, metricDef } from "./metrics.js";
export { type HtmlAssets, renderHtml } from "./render/html.js";
export { renderMarkdown } from "./render/markdown.js";
export { formatMetric, summaryTable, type TextTable } from "./render/table.js";
export {
  type BenchMeta,
  type BenchOptions,
  type BenchProgress,
  type BenchReport,
  type BenchResult,
  type BenchSystemRequest,
  type Combo,
  DEFAULT_CPUS,
  DEFAULT_MEMORY_MIB,
  DEFAULT_SCALE,
  DEFAULT_SEED,
  runBench,
  systemRequest,
} from "./runner.js";
export {
  type SystemNeeds,
  type Workload,
  WorkloadCheckError,
  type WorkloadOptions,
  type WorkloadResult,
} from "./workload.js";
export {
  bufferPool,
  forkCow,
  forkExec,
  kmemChurn,
  pressure,
  randomTouch,
  seqTouch,
  sharedFile,
  smpShootdown,
  WORKLOADS,
  workload,
} from "./workloads.js";
