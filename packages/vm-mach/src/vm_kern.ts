/**
 * vm_kern: the kernel's address space (4.4BSD-Lite sys/vm/vm_kern.c).
 *
 * kernel_map covers [layout.kernelMin, layout.kernelMax) and uses the kernel pmap. Wired kernel
 * memory (kmem_alloc) lives in kernel_object at offset (va - kernelMin), so one object backs all
 * of it; address space without pages (kmem_alloc_pageable / kva for the pmap's own windows and
 * pv pages) is an entry with no object.
 */
import { type AddressLayout, INHERIT_NONE, PAGE_SIZE, PMAP_WIRED, Prot, roundPage, type VAddr } from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import { VmMap } from "./vm_map.js";
import type { VmObject } from "./vm_object.js";
import { type MachPage, PG_BUSY, PG_FAKE } from "./vm_page.js";

export class KernelMap {
  readonly map: VmMap;
  /** kernel_object: holds one permanent reference of its own, plus one per kmem entry. */
  readonly object: VmObject;
  /** How far pmap_growkernel has been asked to cover. */
  private grownTo: VAddr;

  constructor(
    private readonly vm: VmCore,
    private readonly layout: AddressLayout,
  ) {
    this.map = new VmMap(vm, layout.kernelMin, layout.kernelMax, vm.pmap.kernelPmap, true, "kernel_map");
    this.object = vm.objects.allocate(layout.kernelMax - layout.kernelMin, "kernel_object");
    this.grownTo = layout.kernelMin;
  }

  private findSpace(size: number): VAddr {
    return this.map.findSpace(this.layout.kernelMin, size, this.layout.kernelMin, this.layout.kernelMax);
  }

  /** pmap_growkernel when kernel_map reaches past what the kernel page tables cover (FreeBSD). */
  private grow(end: VAddr): void {
    if (end > this.grownTo) {
      this.grownTo = end;
      this.vm.pmap.growKernel(end);
    }
  }

  /** kva_alloc / kmem_alloc_pageable: address space only; 0 when kernel_map is full. */
  kvaAlloc(bytes: number): VAddr {
    const size = roundPage(bytes);
    if (size <= 0) return 0;
    const va = this.findSpace(size);
    if (va < 0) return 0;
    this.map.insert(va, va + size, {
      protection: Prot.Read | Prot.Write,
      maxProtection: Prot.All,
      inheritance: INHERIT_NONE,
    });
    this.grow(va + size);
    return va;
  }

  /**
   * kva_free: give the range back. The caller (the pmap) has removed its own kenter mappings;
   * this does not call pmap_remove, so a pmap may free KVA while holding its own locks.
   */
  kvaFree(va: VAddr, bytes: number): void {
    const size = roundPage(bytes);
    if (size > 0) this.map.delete(va, va + size, false);
  }

  /**
   * kmem_alloc: wired, zeroed pages in kernel_object, entered in the kernel pmap. The entry is
   * in the map before any pmap_enter, so that a recursive kva or kmem allocation by the pmap
   * cannot be given the same range. 0 when kernel_map or memory is exhausted.
   */
  kmemAlloc(bytes: number): VAddr {
    const size = roundPage(bytes);
    if (size <= 0) return 0;
    const va = this.findSpace(size);
    if (va < 0) return 0;
    const base = va - this.layout.kernelMin;
    const got: MachPage[] = [];
    for (let off = 0; off < size; off += PAGE_SIZE) {
      const pg = this.vm.pages.alloc(this.object, base + off);
      if (!pg) {
        for (const p of got) {
          p.flags &= ~PG_BUSY;
          this.vm.pages.freePage(p);
        }
        return 0;
      }
      got.push(pg);
    }
    this.vm.objects.reference(this.object);
    this.map.insert(va, va + size, {
      object: this.object,
      offset: base,
      protection: Prot.Read | Prot.Write,
      maxProtection: Prot.All,
      inheritance: INHERIT_NONE,
      kmem: true,
      wiredCount: 1,
    });
    this.grow(va + size);
    const kpmap = this.vm.pmap.kernelPmap;
    for (let i = 0; i < got.length; i++) {
      const pg = got[i] as MachPage;
      this.vm.pages.zeroFill(pg);
      pg.flags &= ~(PG_FAKE | PG_BUSY);
      this.vm.pages.wire(pg);
      kpmap.enter(va + i * PAGE_SIZE, pg, Prot.Read | Prot.Write, PMAP_WIRED | Prot.Write);
    }
    this.map.simplify(va, va + size);
    return va;
  }

  /** kmem_free: vm_map_remove, which unwires, removes the translations and frees the pages. */
  kmemFree(va: VAddr, bytes: number): void {
    const size = roundPage(bytes);
    if (size > 0) this.map.delete(va, va + size);
  }
}
