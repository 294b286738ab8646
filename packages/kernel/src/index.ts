/**
 * @vmlab/kernel — composes a system from parts passed in as values (it never imports a concrete
 * machine, pmap or VM layer): boot order, processes and threads on CPUs, context switches with
 * u-areas, the trap handler, and the memory system calls with BSD argument checks.
 */
export { createSystem, Kernel } from "./kernel.js";
export { Proc, Thread } from "./proc.js";
export { Services } from "./services.js";
export type * from "./types.js";
