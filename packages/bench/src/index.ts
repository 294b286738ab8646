/**
 * @vmlab/bench — deterministic workloads over the public process API. The comparative runner and
 * reports arrive with the benchmark issue; `vmlab run <workload>` uses these today.
 */
export {
  forkCow,
  randomTouch,
  seqTouch,
  WORKLOADS,
  type Workload,
  type WorkloadOptions,
  type WorkloadResult,
  workload,
} from "./workloads.js";
