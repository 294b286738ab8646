/**
 * @vmlab/machine — generic simulated x86 hardware: physical memory, CPUs with control registers,
 * TLBs and a page-walk engine driven by a paging-format descriptor, interrupts with priority
 * levels, IPIs, a device event queue and a cycle cost model. The paging formats themselves are in
 * @vmlab/hw-i386 and @vmlab/hw-amd64.
 */
export { alternateWindow, auditTlbCoherence } from "./coherence.js";
export { type CostModel, DEFAULT_COSTS } from "./cost.js";
export { Cpu, CpuException, type CpuHost, type Interrupt } from "./cpu.js";
export { type DeviceEvent, EventQueue } from "./events.js";
export * from "./format.js";
export {
  MAX_CPUS,
  Machine,
  type MachineOptions,
  MachineSpec,
  type MachineTraits,
  type PmapFactory,
  type ResolvedMachineOptions,
} from "./machine.js";
export { type MappedRegion, mapLinear } from "./map-linear.js";
export { HOLE_END, HOLE_START, MAX_RAM_BYTES, MachineCheck, PhysicalMemory, type PhysRange } from "./memory.js";
export { PG_FRAME_HI, PG_FRAME_LO, pteFrame, pteHi, pteLo } from "./pte.js";
export { RecursiveWindow } from "./recursive.js";
export { TlbBatch } from "./shootdown.js";
export { type LeafMapping, type LeafWalkOptions, leafMappings } from "./tables.js";
export { DEFAULT_TLB, TLBF_D, TLBF_G, TLBF_U, TLBF_W, TLBF_XD, Tlb } from "./tlb.js";
export * from "./types.js";
export { buildRightsTable, PageWalker, type WalkControl } from "./walk.js";
