/**
 * Random map / unmap / protect / inherit / fork / exit / read / write / mlock / munlock /
 * madvise sequences against a plain model of POSIX address-space contents, with every layer's
 * audit after every step.
 */
import {
  INHERIT_COPY,
  INHERIT_NONE,
  INHERIT_SHARE,
  INHERIT_ZERO,
  type Inheritance,
  KERN_INVALID_ADDRESS,
  KERN_INVALID_ARGUMENT,
  KERN_PROTECTION_FAILURE,
  KERN_SUCCESS,
  MADV_DONTNEED,
  MADV_FREE,
  PAGE_SIZE,
  Prot,
  type VmSpace,
} from "@vmlab/core";
import { UPT_LAYOUT } from "@vmlab/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RW, TestSystem } from "./support/system.js";

const P = PAGE_SIZE;
const WINDOW = 8;
const BASE = 0x1000_0000;

/** What a page holds: shared cells are one object, so a write through one sharer shows in all. */
interface Cell {
  v: number;
  /** After MADV_FREE the page holds either its old value or zeros; the next read decides. */
  candidates?: number[];
}

interface MPage {
  cell: Cell;
  prot: Prot;
  inh: Inheritance;
  locked: boolean;
}

interface MProc {
  space: VmSpace;
  pages: (MPage | undefined)[];
  /** mlockall(MCL_FUTURE) in force. */
  future: boolean;
}

type Cmd =
  | { k: "mmap"; p: number; page: number; len: number; prot: Prot; shared: boolean; wired: boolean }
  | { k: "munmap"; p: number; page: number; len: number }
  | { k: "mprotect"; p: number; page: number; len: number; prot: Prot }
  | { k: "minherit"; p: number; page: number; len: number; inh: Inheritance }
  | { k: "write"; p: number; page: number; v: number }
  | { k: "read"; p: number; page: number }
  | { k: "fork"; p: number }
  | { k: "exit"; p: number }
  | { k: "mlock"; p: number; page: number; len: number }
  | { k: "munlock"; p: number; page: number; len: number }
  | { k: "madvise"; p: number; page: number; len: number; advice: number }
  | { k: "mlockall"; p: number; current: boolean; future: boolean }
  | { k: "munlockall"; p: number }
  | { k: "pagedaemon"; p: number; pressure: boolean };

const range = { page: fc.nat(WINDOW - 1), len: fc.integer({ min: 1, max: 4 }) };
const protArb = fc.constantFrom(RW, RW, RW, Prot.Read, Prot.None);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("mmap" as const),
      p: fc.nat(),
      ...range,
      prot: protArb,
      shared: fc.boolean(),
      wired: fc.constantFrom(false, false, false, false, false, false, true),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("munmap" as const), p: fc.nat(), ...range }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("mprotect" as const), p: fc.nat(), ...range, prot: protArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("minherit" as const),
      p: fc.nat(),
      ...range,
      inh: fc.constantFrom<Inheritance>(INHERIT_SHARE, INHERIT_COPY, INHERIT_NONE, INHERIT_ZERO),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant("write" as const),
      p: fc.nat(),
      page: range.page,
      v: fc.integer({ min: 1, max: 255 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("read" as const), p: fc.nat(), page: range.page }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("fork" as const), p: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("exit" as const), p: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("mlock" as const), p: fc.nat(), ...range }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("munlock" as const), p: fc.nat(), ...range }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("madvise" as const),
      p: fc.nat(),
      ...range,
      advice: fc.constantFrom(MADV_DONTNEED, MADV_FREE),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("mlockall" as const),
      p: fc.nat(),
      current: fc.boolean(),
      future: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("munlockall" as const), p: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("pagedaemon" as const), p: fc.nat(), pressure: fc.boolean() }) },
);

function pagesOf(c: { page: number; len: number }): number[] {
  const out: number[] = [];
  for (let i = c.page; i < Math.min(WINDOW, c.page + c.len); i++) out.push(i);
  return out;
}

function run(cmds: Cmd[], layoutWithUpt: boolean): void {
  const t = new TestSystem(layoutWithUpt ? { layout: UPT_LAYOUT } : {});
  const free0 = t.vm.freePages;
  const procs: MProc[] = [];
  const spawn = (): MProc => {
    const m: MProc = { space: t.spawn(), pages: new Array(WINDOW).fill(undefined), future: false };
    procs.push(m);
    return m;
  };
  spawn();
  for (const c of cmds) {
    const pr = procs.length > 0 ? (procs[c.p % procs.length] as MProc) : spawn();
    const s = pr.space;
    switch (c.k) {
      case "mmap": {
        const pgs = pagesOf(c);
        const va = t.mmap(s, pgs.length * P, {
          addr: BASE + c.page * P,
          fixed: true,
          prot: c.prot,
          shared: c.shared,
          inheritance: INHERIT_COPY,
          wired: c.wired,
        });
        expect(va).toBe(BASE + c.page * P);
        const locked = (c.wired || pr.future) && c.prot !== Prot.None;
        for (const i of pgs) {
          pr.pages[i] = { cell: { v: 0 }, prot: c.prot, inh: c.shared ? INHERIT_SHARE : INHERIT_COPY, locked };
        }
        break;
      }
      case "munmap": {
        const pgs = pagesOf(c);
        expect(t.vm.unmap(s, BASE + c.page * P, pgs.length * P)).toBe(KERN_SUCCESS);
        for (const i of pgs) pr.pages[i] = undefined;
        break;
      }
      case "mprotect": {
        const pgs = pagesOf(c);
        const rv = t.vm.protect(s, BASE + c.page * P, pgs.length * P, c.prot, false);
        if (pgs.some((i) => !pr.pages[i])) expect(rv).toBe(KERN_INVALID_ADDRESS);
        else {
          expect(rv).toBe(KERN_SUCCESS);
          for (const i of pgs) {
            const m = pr.pages[i] as MPage;
            // NetBSD uvm_map_protect: leaving PROT_NONE under MCL_FUTURE wires.
            if (pr.future && m.prot === Prot.None && c.prot !== Prot.None) m.locked = true;
            m.prot = c.prot;
          }
        }
        break;
      }
      case "minherit": {
        const pgs = pagesOf(c);
        expect(t.vm.inherit(s, BASE + c.page * P, pgs.length * P, c.inh)).toBe(KERN_SUCCESS);
        for (const i of pgs) {
          const m = pr.pages[i];
          if (m) m.inh = c.inh;
        }
        break;
      }
      case "write": {
        const m = pr.pages[c.page];
        const rv = t.tryStore(s, BASE + c.page * P, c.v);
        if (!m) expect(rv).toBe(KERN_INVALID_ADDRESS);
        else if ((m.prot & Prot.Write) === 0) expect(rv).toBe(KERN_PROTECTION_FAILURE);
        else {
          expect(rv).toBe(KERN_SUCCESS);
          m.cell.v = c.v;
          delete m.cell.candidates;
        }
        break;
      }
      case "read": {
        const m = pr.pages[c.page];
        const r = t.tryLoad(s, BASE + c.page * P);
        if (!m) expect(r).toBe(KERN_INVALID_ADDRESS);
        else if ((m.prot & Prot.Read) === 0) expect(r).toBe(KERN_PROTECTION_FAILURE);
        else {
          expect(typeof r).toBe("object");
          const got = (r as { value: number }).value;
          if (m.cell.candidates) {
            expect(m.cell.candidates).toContain(got);
            m.cell.v = got;
            delete m.cell.candidates;
          } else {
            expect(got).toBe(m.cell.v);
          }
        }
        break;
      }
      case "fork": {
        const child: MProc = { space: t.fork(s), pages: new Array(WINDOW).fill(undefined), future: false };
        pr.pages.forEach((m, i) => {
          if (!m) return;
          const copy = (cell: Cell): Cell =>
            cell.candidates ? { v: cell.v, candidates: [...cell.candidates] } : { v: cell.v };
          if (m.inh === INHERIT_NONE) return;
          const cell = m.inh === INHERIT_SHARE ? m.cell : m.inh === INHERIT_ZERO ? { v: 0 } : copy(m.cell);
          child.pages[i] = { cell, prot: m.prot, inh: m.inh, locked: false };
        });
        procs.push(child);
        break;
      }
      case "exit": {
        t.exit(s);
        procs.splice(procs.indexOf(pr), 1);
        break;
      }
      case "mlock": {
        const pgs = pagesOf(c);
        const rv = t.vm.wire(s, BASE + c.page * P, pgs.length * P, "mlock");
        if (pgs.some((i) => !pr.pages[i])) expect(rv).toBe(KERN_INVALID_ADDRESS);
        else if (pgs.some((i) => pr.pages[i]?.prot === Prot.None)) expect(rv).toBe(KERN_PROTECTION_FAILURE);
        else {
          expect(rv).toBe(KERN_SUCCESS);
          for (const i of pgs) (pr.pages[i] as MPage).locked = true;
        }
        break;
      }
      case "munlock": {
        const pgs = pagesOf(c);
        const rv = t.vm.unwire(s, BASE + c.page * P, pgs.length * P, "mlock");
        if (pgs.some((i) => !pr.pages[i])) expect(rv).toBe(KERN_INVALID_ADDRESS);
        else if (pgs.some((i) => !pr.pages[i]?.locked)) expect(rv).toBe(KERN_INVALID_ARGUMENT);
        else {
          expect(rv).toBe(KERN_SUCCESS);
          for (const i of pgs) (pr.pages[i] as MPage).locked = false;
        }
        break;
      }
      case "madvise": {
        const pgs = pagesOf(c);
        const rv = t.vm.advise(s, BASE + c.page * P, pgs.length * P, c.advice);
        if (pgs.some((i) => !pr.pages[i])) expect(rv).toBe(KERN_INVALID_ADDRESS);
        else {
          expect(rv).toBe(KERN_SUCCESS);
          if (c.advice === MADV_FREE) {
            for (const i of pgs) {
              const m = pr.pages[i] as MPage;
              if (!m.locked && m.cell.v !== 0)
                m.cell.candidates = [...new Set([...(m.cell.candidates ?? [m.cell.v]), 0])];
            }
          }
        }
        break;
      }
      case "mlockall": {
        expect(t.vm.wireAll(s, c.current, c.future)).toBe(KERN_SUCCESS);
        if (c.future) pr.future = true;
        if (c.current) for (const m of pr.pages) if (m && m.prot !== Prot.None) m.locked = true;
        break;
      }
      case "munlockall": {
        expect(t.vm.unwireAll(s)).toBe(KERN_SUCCESS);
        pr.future = false;
        for (const m of pr.pages) if (m) m.locked = false;
        break;
      }
      case "pagedaemon": {
        const held = [];
        if (c.pressure) while (t.vm.freePages >= t.vm.pageout.freeTarget) held.push(t.vm.allocPage({}));
        t.vm.pagedaemon();
        for (const pg of held) if (pg) t.vm.freePage(pg);
        break;
      }
    }
    t.audit();
    for (const q of procs) {
      const userWired = q.pages.filter((m) => m?.locked).length;
      expect(t.vm.userWiredPages(q.space)).toBe(userWired);
    }
  }
  for (const q of procs) t.exit(q.space);
  t.audit();
  expect(t.vm.freePages).toBe(free0);
  expect(t.vm.wiredPages).toBe(0);
  expect(t.stat("vm.object.count")).toBe(1);
}

describe("model-based: random address-space operations", () => {
  it("agree with the model and keep every invariant (flat layout)", () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 10, maxLength: 80, size: "max" }), (cmds) => run(cmds, false)),
      { numRuns: Number(process.env.VM_MACH_RUNS ?? 200) },
    );
  }, 600_000);

  it("agree with the model and keep every invariant (page tables in the user map)", () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 10, maxLength: 80, size: "max" }), (cmds) => run(cmds, true)),
      { numRuns: Number(process.env.VM_MACH_RUNS ?? 100) },
    );
  }, 600_000);
});
