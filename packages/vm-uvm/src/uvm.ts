/**
 * struct uvm: what every module of this package shares (NetBSD sys/uvm/uvm.h's global `uvm` and
 * `uvmexp`): kernel services, the pmap module, the pager I/O the kernel provides, counters, the
 * page array, and the two waits everything uses. One per system, built by uvm().create().
 */
import type { AddressLayout, KernelServices, PagerIo, PmapModule } from "@vmlab/core";
import type { PageArray, UvmPage } from "./uvm_page.js";
import type { UvmCounters } from "./uvm_stat.js";

export interface Uvm {
  readonly kernel: KernelServices;
  readonly pmap: PmapModule;
  readonly io: PagerIo;
  readonly counters: UvmCounters;
  readonly pages: PageArray;
  readonly layout: AddressLayout;
  /**
   * uvm_wait(wmesg): wake the pagedaemon and sleep until a page is free. False when nothing can
   * free one (the caller answers KERN_RESOURCE_SHORTAGE).
   */
  waitForMemory(wmesg: string): boolean;
  /** Sleep on a busy page (PG_WANTED) until its owner clears PG_BUSY. False if it never will. */
  waitForPage(pg: UvmPage, wmesg: string): boolean;
  /** Free or release a page whose owner is giving it up (PG_RELEASED if busy). */
  releasePage(pg: UvmPage): void;
}
