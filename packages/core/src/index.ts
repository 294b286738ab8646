/**
 * @vmlab/core — the shared vocabulary of vmlab: address types and page geometry, the public error
 * types, BSD constants and errno numbers, and the kernel services every layer uses (locks with a
 * witness, interrupt priority levels, panic, trace, counters, a seeded PRNG), plus the interfaces
 * (KPI) between machine, pmap, VM layer and kernel.
 */
export * from "./addr.js";
export * from "./constants.js";
export * from "./counters.js";
export * from "./errno.js";
export * from "./errors.js";
export * from "./kpi.js";
export * from "./locks.js";
export * from "./prng.js";
export * from "./spl.js";
export * from "./trace.js";
export * from "./witness.js";
