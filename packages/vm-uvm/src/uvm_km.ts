/**
 * uvm_km: the kernel's address space (NetBSD sys/uvm/uvm_km.c). kernel_map covers
 * [kernelMin, kernelMax) on the kernel pmap; wired kernel memory (uvm_km_alloc / kmem) lives in
 * uvm.kernel_object, an aobj, at offset va - kernelMin; address space without pages
 * (uvm_km_valloc, the pmap's windows and pv pages) is an entry with no object.
 */
import { type AddressLayout, INHERIT_NONE, PAGE_SIZE, PMAP_WIRED, Prot, roundPage, type VAddr } from "@vmlab/core";
import type { Uvm } from "./uvm.js";
import { type UvmAobj, uaoCreate } from "./uvm_aobj.js";
import { UVM_MAP_KMEM, VmMap } from "./uvm_map.js";
import { PG_BUSY, PG_FAKE, type UvmPage } from "./uvm_page.js";

export class KernelMap {
  readonly map: VmMap;
  /** uvm.kernel_object: one permanent reference, plus one per kmem entry. */
  readonly object: UvmAobj;
  private grownTo: VAddr;

  constructor(
    private readonly vm: Uvm,
    private readonly layout: AddressLayout,
  ) {
    this.map = new VmMap(vm, layout.kernelMin, layout.kernelMax, vm.pmap.kernelPmap, "kernel_map");
    this.object = uaoCreate(layout.kernelMax - layout.kernelMin, "kernel_object");
    this.grownTo = layout.kernelMin;
  }

  private findSpace(size: number): VAddr {
    return this.map.findSpace(this.layout.kernelMin, size, this.layout.kernelMin, this.layout.kernelMax);
  }

  /** pmap_growkernel when kernel_map reaches past what the kernel page tables cover. */
  private grow(end: VAddr): void {
    if (end > this.grownTo) {
      this.grownTo = end;
      this.vm.pmap.growKernel(end);
    }
  }

  /** uvm_km_valloc: address space only; 0 when kernel_map is full. */
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

  /** uvm_km_free of a valloc'ed range: the pmap removed its own kenter mappings. */
  kvaFree(va: VAddr, bytes: number): void {
    const size = roundPage(bytes);
    if (size > 0) this.map.remove(va, va + size, false);
  }

  /**
   * uvm_km_alloc (uvm_km_kmemalloc): wired, zeroed pages of kernel_object entered in the kernel
   * pmap. The entry is linked before any pmap_enter, so a recursive allocation by the pmap cannot
   * be given the same range. 0 when kernel_map or memory is exhausted.
   */
  kmemAlloc(bytes: number): VAddr {
    const size = roundPage(bytes);
    if (size <= 0) return 0;
    const va = this.findSpace(size);
    if (va < 0) return 0;
    const base = va - this.layout.kernelMin;
    const got: UvmPage[] = [];
    for (let off = 0; off < size; off += PAGE_SIZE) {
      const pg = this.vm.pages.alloc(this.object, base + off, null);
      if (!pg) {
        for (const p of got) {
          p.flags &= ~PG_BUSY;
          this.vm.pages.freePage(p);
        }
        return 0;
      }
      got.push(pg);
    }
    this.object.refs++;
    this.map.insert(va, va + size, {
      object: this.object,
      offset: base,
      protection: Prot.Read | Prot.Write,
      maxProtection: Prot.All,
      inheritance: INHERIT_NONE,
      flags: UVM_MAP_KMEM,
      wiredCount: 1,
    });
    this.grow(va + size);
    const kpmap = this.vm.pmap.kernelPmap;
    for (let i = 0; i < got.length; i++) {
      const pg = got[i] as UvmPage;
      this.vm.pages.zero(pg);
      pg.flags &= ~(PG_FAKE | PG_BUSY);
      this.vm.pages.wire(pg);
      kpmap.enter(va + i * PAGE_SIZE, pg, Prot.Read | Prot.Write, PMAP_WIRED | Prot.Write);
    }
    return va;
  }

  /** uvm_km_free: uvm_unmap, which unwires, removes the translations and frees the pages. */
  kmemFree(va: VAddr, bytes: number): void {
    const size = roundPage(bytes);
    if (size > 0) this.map.remove(va, va + size);
  }
}
