/**
 * @vmlab/testkit — test doubles for testing one layer alone (devDependency only): a software pmap
 * that keeps translations in Maps, kernel services from core's pieces, an in-memory pager I/O, and
 * a harness that drives a VM layer through them like trap() and the syscalls would.
 */
export { EIO, FakePagerIo, FakeVnode, type FrameStore } from "./fake-io.js";
export {
  FakePmap,
  FakePmapModule,
  type FakePmapOptions,
  FLAT_LAYOUT,
  GARBAGE,
  PT_SPAN,
  UPT_LAYOUT,
} from "./fake-pmap.js";
export { AccessError, RW, TestSystem, type TestSystemOptions } from "./harness.js";
export { TestKernel } from "./kernel.js";
export {
  bootPmapSystem,
  kernPa,
  MACHINES,
  type PmapBootOptions,
  type PmapTestSystem,
  panicText,
  RO,
  RWX,
  RX,
  ToyHost,
  ToyPage,
  userPa,
} from "./pmap-host.js";
export { describeWireShortage } from "./suites/wire-shortage.js";
