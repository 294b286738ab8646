/**
 * vm_kern: the kernel's address space and kernel memory (FreeBSD sys/vm/vm_kern.c, 8.x).
 *
 * kernel_map covers [kernelMin, kernelMax) and uses the kernel pmap. kmem_malloc allocates wired
 * memory in kmem_object at pindex atop(va - kernelMin); the object is coloured so that its
 * reservations line up with the kernel's superpage frames, so a multi-page allocation fills a
 * reservation and the pmap may promote it. Pages are allocated first, then entered into the
 * kernel pmap one page at a time — the path of erratum freebsd-2009-promote-litter (seed 001):
 * the promotion test at the end of pmap_enter can succeed part way through the loop.
 * kva_alloc hands out address space with no object (the pmap's windows and pv chunks).
 */
import { type AddressLayout, INHERIT_NONE, PAGE_SIZE, PMAP_WIRED, Prot, roundPage, type VAddr } from "@vmlab/core";
import type { VmCore } from "./vm_core.js";
import { VmMap } from "./vm_map.js";
import { OBJ_UNMANAGED, type VmObject } from "./vm_object.js";
import { type FbsdPage, VM_ALLOC_SYSTEM } from "./vm_page.js";

/** The erratum whose era (FreeBSD 6) had a managed kmem_object. */
const ERRATUM_2006_MANAGED_KMEM = "freebsd-2006-pvchunk-kva-recursion";

export class KernelMap {
  readonly map: VmMap;
  /** kmem_object (OBJT_PHYS): one permanent reference of its own plus one per kmem entry. */
  readonly object: VmObject;
  private grownTo: VAddr;

  constructor(
    private readonly vm: VmCore,
    private readonly layout: AddressLayout,
  ) {
    this.map = new VmMap(vm, layout.kernelMin, layout.kernelMax, vm.pmap.kernelPmap, "kernel_map");
    const n = vm.pages.param.level0Npages;
    this.object = vm.objects.allocate(
      "phys",
      (layout.kernelMax - layout.kernelMin) / PAGE_SIZE,
      "kmem_object",
      (layout.kernelMin / PAGE_SIZE) % n,
    );
    // FreeBSD 6 (the era of erratum freebsd-2006-pvchunk-kva-recursion) allocated kmem_object as
    // OBJT_DEFAULT: its pages were managed and kmem_malloc's pmap_enter took pv entries. The
    // reservation era made the kernel objects OBJT_PHYS, their pages PG_UNMANAGED.
    if (vm.kernel.erratum(ERRATUM_2006_MANAGED_KMEM)) this.object.flags &= ~OBJ_UNMANAGED;
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

  /** kva_alloc (kmem_alloc_nofault): address space only; 0 when kernel_map is full. */
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

  /** kva_free: the caller removed its own mappings; no pmap_remove here. */
  kvaFree(va: VAddr, bytes: number): void {
    const size = roundPage(bytes);
    if (size > 0) this.map.delete(va, va + size, false);
  }

  /**
   * kmem_malloc(kmem_map, size, M_NOWAIT | M_ZERO): find space, insert the entry (wired, so a
   * recursive allocation by the pmap cannot get the same range), allocate every page from
   * kmem_object (and so from its reservations), zero them, then pmap_enter them one by one.
   * 0 when kernel_map or memory is exhausted, leaving nothing behind.
   */
  kmemMalloc(bytes: number): VAddr {
    const size = roundPage(bytes);
    if (size <= 0) return 0;
    const va = this.findSpace(size);
    if (va < 0) return 0;
    const base = (va - this.layout.kernelMin) / PAGE_SIZE;
    const pages = this.vm.pages;
    const got: FbsdPage[] = [];
    for (let i = 0; i < size / PAGE_SIZE; i++) {
      const m = pages.alloc(this.object, base + i, VM_ALLOC_SYSTEM);
      if (!m) {
        for (const p of got) {
          pages.wakeupPage(p);
          pages.free(p);
        }
        return 0;
      }
      got.push(m);
    }
    this.vm.objects.reference(this.object);
    this.map.insert(va, va + size, {
      object: this.object,
      offset: base * PAGE_SIZE,
      protection: Prot.Read | Prot.Write,
      maxProtection: Prot.All,
      inheritance: INHERIT_NONE,
      kmem: true,
      wiredCount: 1,
    });
    this.grow(va + size);
    for (const m of got) {
      pages.zeroFill(m);
      pages.wire(m);
    }
    const kpmap = this.vm.pmap.kernelPmap;
    for (let i = 0; i < got.length; i++) {
      const m = got[i] as FbsdPage;
      kpmap.enter(va + i * PAGE_SIZE, m, Prot.Read | Prot.Write, PMAP_WIRED | Prot.Write);
      pages.wakeupPage(m);
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
