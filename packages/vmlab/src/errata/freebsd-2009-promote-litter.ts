/**
 * Erratum freebsd-2009-promote-litter (seed 001: Kurt's analysis on freebsd-stable of "panic:
 * pmap_enter: attempted pmap_enter on 2MB page", FreeBSD 8.0, boot-time backtrace pmap_enter ←
 * kmem_malloc ← uma_large_malloc ← malloc).
 *
 * Kernel page tables are never freed, and the kernel-VA shortcut of the pmap_unuse_pt path left
 * kernel PTEs behind when kernel VAs were unmapped ("litter"). The litter is harmless by itself —
 * kmem_object's reservation holds the pages in place, so a reused VA maps the same page again —
 * but kernel VAs have mpte == NULL, so the promotion test at the end of pmap_enter reduces to
 * "the reservation is fully populated". kmem_malloc allocates all pages first and enters them one
 * at a time: when its reservation is full from the start and the rest of the page table is live
 * mappings or litter, the FIRST pmap_enter promotes the 2/4 MiB range, and the SECOND finds a
 * PG_PS PDE and panics. The mechanism lives in @vmlab/pmap-freebsd (pmap.ts removePte / unwire /
 * enter, promote.ts) and @vmlab/vm-freebsd (vm_kern.ts kmem_malloc, vm_reserv.ts).
 */
import { InvariantViolation, PAGE_SIZE } from "@vmlab/core";
import type { Combination } from "../registry.js";
import { type ScenarioContext, type ScenarioOutcome, step } from "../scenario.js";
import { registerErratum } from "./catalogue.js";

export const PROMOTE_LITTER = "freebsd-2009-promote-litter";

/** Kernel work on CPU 0 (as the bench's kmem workload does it). */
function onCpu0<T>(ctx: ScenarioContext, fn: () => T): T {
  const cpu = ctx.sys.machine.cpus[0] as (typeof ctx.sys.machine.cpus)[number];
  return ctx.sys.machine.runOn(cpu, fn);
}

/** NBPDR: the superpage size the pmap uses (4 MiB on i386, 2 MiB on PAE and amd64). */
function superpage(ctx: ScenarioContext): number {
  return ctx.sys.pmap.layout.superpageSize ?? 2 * 1024 * 1024;
}

/** Pages per superpage (NPTEPG). */
function npages(ctx: ScenarioContext): number {
  return superpage(ctx) / PAGE_SIZE;
}

function record(ctx: ScenarioContext, line: string): void {
  ctx.evidence.push(line);
}

const hex = (v: number): string => `0x${v.toString(16)}`;

export function appliesPromoteLitter(c: Combination): { applies: boolean; why: string } {
  if (c.pmap !== "freebsd") {
    return {
      applies: false,
      why:
        c.pmap === "mach"
          ? "the Mach pmap has no superpage promotion: kernel mappings are always 4 KiB PTEs, so litter can never be merged into a large page"
          : "the Cranor (NetBSD) pmap has no superpage promotion of 4 KiB mappings: litter can never be merged into a large page",
    };
  }
  if (c.vm !== "freebsd") {
    return {
      applies: false,
      why:
        c.vm === "mach"
          ? "the Mach VM has no superpage reservations: vm_reserv_level_iffullpop is always -1, so pmap_enter never attempts promotion"
          : "UVM has no superpage reservations: vm_reserv_level_iffullpop is always -1, so pmap_enter never attempts promotion",
    };
  }
  return {
    applies: true,
    why:
      c.machine === "amd64"
        ? "amd64: kernel VAs have mpte == NULL, kmem_object pages come from 2 MiB reservations and pmap_promote_pde promotes kernel mappings"
        : `${c.machine}: kernel VAs have mpte == NULL, kmem_object pages are PG_UNMANAGED (so the i386 kernel-promotion refusal for PG_MANAGED does not apply) and come from ${c.machine === "i386" ? "4" : "2"} MiB reservations`,
  };
}

registerErratum({
  id: PROMOTE_LITTER,
  seed: "001_26b22631f72eb3ce.txt",
  title: "kernel PTE litter lets kmem_malloc's first pmap_enter promote: panic on the second page",
  caughtBy: ["model: every call and access"],
  applies: appliesPromoteLitter,
  reproduced(o: ScenarioOutcome): boolean {
    return o.panic !== undefined && /pmap_enter: attempted pmap_enter on [24]MB page/.test(o.panic);
  },
  reproducer: {
    name: PROMOTE_LITTER,
    description:
      "Kernel memory on CPU 0 through kmem_malloc/kmem_free: fill one superpage-aligned 2/4 MiB range of kernel_map " +
      "with a kmem allocation except its last two pages, map and free the last page (its PTE stays behind as litter " +
      "with the erratum), then kmem_malloc the last two pages: the reservation is full, the first pmap_enter finds a " +
      "complete page table and promotes, the second enters into the superpage.",
    options: { memoryMiB: 32, cpus: 1 },
    steps: [
      step("fill kernel_map one page at a time up to a superpage boundary (kva_alloc)", (ctx) => {
        const sp = superpage(ctx);
        let n = 0;
        for (;;) {
          const va = onCpu0(ctx, () => ctx.sys.vm.kvaAlloc(PAGE_SIZE));
          if (va === 0) throw new Error("kva_alloc failed before a superpage boundary");
          if (va % sp === 0) {
            onCpu0(ctx, () => ctx.sys.vm.kvaFree(va, PAGE_SIZE));
            ctx.vars.set("base", va);
            break;
          }
          ctx.vars.set(`filler${n++}`, va);
        }
        ctx.vars.set("fillers", n);
        record(ctx, `superpage-aligned kernel VA ${hex(ctx.num("base"))} (${n} filler pages)`);
      }),
      step("kmem_malloc the superpage's first NPTEPG-2 pages (A: one reservation, kmem_object pindex = VA)", (ctx) => {
        const n = npages(ctx);
        const va = onCpu0(ctx, () => ctx.sys.vm.kmemAlloc((n - 2) * PAGE_SIZE));
        if (va !== ctx.num("base")) throw new Error(`kmem_malloc A at ${hex(va)}, not at ${hex(ctx.num("base"))}`);
        ctx.vars.set("a", va);
      }),
      step("kva_alloc one page at NPTEPG-2 (K: address space only, keeps the next allocation past it)", (ctx) => {
        const va = onCpu0(ctx, () => ctx.sys.vm.kvaAlloc(PAGE_SIZE));
        const want = ctx.num("base") + (npages(ctx) - 2) * PAGE_SIZE;
        if (va !== want) throw new Error(`kva_alloc K at ${hex(va)}, not at ${hex(want)}`);
        ctx.vars.set("k", va);
      }),
      step("kmem_malloc the last page (B: the reservation has NPTEPG-1 pages, not full: no promotion)", (ctx) => {
        const va = onCpu0(ctx, () => ctx.sys.vm.kmemAlloc(PAGE_SIZE));
        const want = ctx.num("base") + (npages(ctx) - 1) * PAGE_SIZE;
        if (va !== want) throw new Error(`kmem_malloc B at ${hex(va)}, not at ${hex(want)}`);
        ctx.vars.set("b", va);
        const pa = ctx.sys.pmap.kernelPmap.extract(va);
        if (pa !== undefined) ctx.vars.set("bpa", pa);
      }),
      step("kmem_free B (vm_map_delete → pmap_remove on a kernel VA; its page stays in the reservation)", (ctx) => {
        const b = ctx.num("b");
        onCpu0(ctx, () => ctx.sys.vm.kmemFree(b, PAGE_SIZE));
        const left = ctx.sys.pmap.kernelPmap.extract(b);
        if (left !== undefined) record(ctx, `litter: kernel PTE for ${hex(b)} still maps ${hex(left)} after kmem_free`);
      }),
      step("kva_free K (two free pages at the end of the superpage)", (ctx) => {
        onCpu0(ctx, () => ctx.sys.vm.kvaFree(ctx.num("k"), PAGE_SIZE));
      }),
      step("kmem_malloc 2 pages (X: fills the reservation; pmap_enter of page 1, then of page 2)", (ctx) => {
        const promotions = ctx.sys.trace({ layer: "pmap", name: "promote" }).length;
        try {
          const va = onCpu0(ctx, () => ctx.sys.vm.kmemAlloc(2 * PAGE_SIZE));
          ctx.vars.set("x", va);
        } finally {
          for (const t of ctx.sys.trace({ layer: "pmap", name: "promote" }).slice(promotions)) {
            record(ctx, `pmap_promote_pde: kernel ${hex(Number(t.fields.va))} → ${hex(Number(t.fields.pa))}`);
          }
        }
        const want = ctx.num("base") + (npages(ctx) - 2) * PAGE_SIZE;
        if (ctx.num("x") !== want) throw new Error(`kmem_malloc X at ${hex(ctx.num("x"))}, not at ${hex(want)}`);
      }),
      step("write and read back every page of A and X through the MMU (kernel mode)", (ctx) => {
        const cpu = ctx.sys.machine.cpus[0] as (typeof ctx.sys.machine.cpus)[number];
        const base = ctx.num("base");
        const n = npages(ctx);
        ctx.sys.machine.runOn(cpu, () => {
          for (let i = 0; i < n; i++) {
            if (!cpu.store32(base + i * PAGE_SIZE, 0x11170000 + i, false))
              throw new Error(`kernel store faulted at page ${i}`);
          }
          for (let i = 0; i < n; i++) {
            if (cpu.load32(base + i * PAGE_SIZE, false) !== 0x11170000 + i)
              throw new Error(`kernel page ${i} lost its data`);
          }
        });
      }),
      step("kmem_free X and A, kva_free the fillers", (ctx) => {
        const n = npages(ctx);
        onCpu0(ctx, () => {
          ctx.sys.vm.kmemFree(ctx.num("x"), 2 * PAGE_SIZE);
          ctx.sys.vm.kmemFree(ctx.num("a"), (n - 2) * PAGE_SIZE);
          for (let i = 0; i < ctx.num("fillers"); i++) ctx.sys.vm.kvaFree(ctx.num(`filler${i}`), PAGE_SIZE);
        });
      }),
      step("audit (the pmap, the VM and the machine)", (ctx) => {
        try {
          ctx.sys.audit();
        } catch (e) {
          if (e instanceof InvariantViolation) record(ctx, `audit: ${e.message}`);
          throw e;
        }
      }),
    ],
  },
});
