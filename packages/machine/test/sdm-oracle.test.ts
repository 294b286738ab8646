/**
 * Hand-written examples straight from the Intel SDM (Vol. 3A ch. 4) that pin down the test
 * oracle itself. These do not touch the MMU implementation.
 */
import { describe, expect, it } from "vitest";
import {
  BIT_A,
  BIT_D,
  BIT_P,
  BIT_PS,
  BIT_RW,
  BIT_US,
  bit64,
  entryMatches,
  HI_XD,
  type OracleAccessKind,
  type OracleControl,
  type PagingFormat,
  paePdpteLoadFaults,
  type RawEntry,
  reservedMask,
  sdmTranslate,
  tableAddress,
  walkIndex,
} from "./support/sdm-oracle.js";

const P = BIT_P;
const RW = BIT_RW;
const US = BIT_US;
const A = BIT_A;
const D = BIT_D;
const PS = BIT_PS;

const ctl = (o: Partial<OracleControl> = {}): OracleControl => ({
  wp: false,
  pse: false,
  nxe: false,
  smep: false,
  ...o,
});
const e32 = (lo: number): RawEntry => ({ lo: lo >>> 0, hi: 0 });
const e64 = (lo: number, hi = 0): RawEntry => ({ lo: lo >>> 0, hi: hi >>> 0 });

function run(
  format: PagingFormat,
  entries: RawEntry[],
  access: OracleAccessKind,
  user: boolean,
  control: OracleControl,
  va = 0x00401234,
) {
  return sdmTranslate({ format, va, entries, control, access: { access, user } });
}

describe("SDM oracle: 32-bit paging", () => {
  const PT = 0x00200000;
  const FRAME = 0x00800000;
  const va = 0x00401234; // PD index 1, PT index 1, offset 0x234

  it("supervisor write to a read-only user page succeeds with CR0.WP=0 (386 semantics) and sets A/D", () => {
    const r = run("i386", [e32(PT | P | RW | US), e32(FRAME | P | US)], "write", false, ctl({ wp: false }), va);
    expect(r.result).toEqual({ pa: FRAME + 0x234 });
    expect(r.entries[0]).toEqual({ lo: PT | P | RW | US | A, hi: 0, ignoreLo: 0 });
    expect(r.entries[1]).toEqual({ lo: FRAME | P | US | A | D, hi: 0, ignoreLo: 0 });
  });

  it("the same write faults with CR0.WP=1: P|W, PTE unchanged, PDE A don't-care", () => {
    const r = run("i386", [e32(PT | P | RW | US), e32(FRAME | P | US)], "write", false, ctl({ wp: true }), va);
    expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b011, va } });
    expect(r.entries[1]).toEqual({ lo: FRAME | P | US, hi: 0, ignoreLo: 0 });
    expect(r.entries[0]?.ignoreLo).toBe(A);
  });

  it("user write to a read-only page faults whatever CR0.WP says (P|W|U)", () => {
    for (const wp of [false, true]) {
      const r = run("i386", [e32(PT | P | RW | US), e32(FRAME | P | US)], "write", true, ctl({ wp }), va);
      expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b111, va } });
    }
  });

  it("R/W is the AND of the PDE and PTE (read-only PDE, writable PTE, user write)", () => {
    const r = run("i386", [e32(PT | P | US), e32(FRAME | P | RW | US)], "write", true, ctl(), va);
    expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b111, va } });
  });

  it("non-present PTE under a supervisor-only PDE, from user mode, reports P=0 (rights need a full translation)", () => {
    const r = run("i386", [e32(PT | P | RW), e32(FRAME | RW | US)], "read", true, ctl(), va);
    expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b100, va } });
    expect(r.reason).toBe("not-present");
  });

  it("user read of a supervisor page (U/S=0 in the PDE only) is a protection fault P|U", () => {
    const r = run("i386", [e32(PT | P | RW), e32(FRAME | P | RW | US)], "read", true, ctl(), va);
    expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b101, va } });
  });

  it("a not-present entry's other bits are free for software: no reserved-bit fault, entry untouched", () => {
    const swap = 0xfffffffe; // everything but P
    const r = run("i386", [e32(swap), e32(0)], "write", true, ctl({ pse: true }), va);
    expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b110, va } });
    expect(r.entries[0]).toEqual({ lo: swap, hi: 0, ignoreLo: 0 });
  });

  it("4 MiB page: bits 21:13 reserved only with CR4.PSE=1; bit 12 (PAT) is not", () => {
    const big = 0x00c00000 | P | RW | US | PS;
    expect(run("i386", [e32(big), e32(0)], "read", false, ctl({ pse: true }), va).result).toEqual({
      pa: 0x00c00000 + (va & 0x3fffff),
    });
    expect(run("i386", [e32(big | (1 << 13)), e32(0)], "read", true, ctl({ pse: true }), va).result).toEqual({
      fault: { vector: 14, errorCode: 0b1101, va },
    });
    expect(run("i386", [e32(big | (1 << 21)), e32(0)], "write", false, ctl({ pse: true }), va).result).toEqual({
      fault: { vector: 14, errorCode: 0b1011, va },
    });
    expect(run("i386", [e32(big | (1 << 12)), e32(0)], "read", false, ctl({ pse: true }), va).result).toEqual({
      pa: 0x00c00000 + (va & 0x3fffff),
    });
    // Without PSE, PS is ignored and the PDE points to a page table (at 0x00c02000 here).
    const r = run("i386", [e32(big | (1 << 13)), e32(FRAME | P | RW | US)], "read", false, ctl({ pse: false }), va);
    expect(r.result).toEqual({ pa: FRAME + 0x234 });
    expect(tableAddress("i386", e32(big | (1 << 13)))).toBe(0x00c02000);
  });

  it("4 MiB page write sets A and D in the PDE, which is the leaf", () => {
    const r = run("i386", [e32(0x00c00000 | P | RW | PS), e32(0x1234)], "write", false, ctl({ pse: true }), va);
    expect(r.entries[0]).toEqual({ lo: 0x00c00000 | P | RW | PS | A | D, hi: 0, ignoreLo: 0 });
    expect(r.entries[1]).toEqual({ lo: 0x1234, hi: 0, ignoreLo: 0 }); // not consulted
  });

  it("D is never set in a PDE that points to a page table", () => {
    const r = run("i386", [e32(PT | P | RW), e32(FRAME | P | RW)], "write", false, ctl(), va);
    expect(r.entries[0]?.lo).toBe(PT | P | RW | A);
    expect(r.entries[1]?.lo).toBe(FRAME | P | RW | A | D);
  });

  it("I/D error bit: only with SMEP in 32-bit paging (NXE has no effect there)", () => {
    const entries = [e32(PT | P | RW), e32(FRAME)];
    expect(run("i386", entries, "exec", false, ctl({ nxe: true }), va).result).toEqual({
      fault: { vector: 14, errorCode: 0, va },
    });
    expect(run("i386", entries, "exec", false, ctl({ smep: true }), va).result).toEqual({
      fault: { vector: 14, errorCode: 0b10000, va },
    });
  });

  it("SMEP: supervisor fetch from a user page faults even with WP=0; user fetch is fine", () => {
    const entries = [e32(PT | P | RW | US), e32(FRAME | P | RW | US)];
    expect(run("i386", entries, "exec", false, ctl({ smep: true }), va).result).toEqual({
      fault: { vector: 14, errorCode: 0b10001, va },
    });
    expect(run("i386", entries, "exec", true, ctl({ smep: true }), va).result).toEqual({ pa: FRAME + 0x234 });
    // A supervisor page is fine for supervisor fetches under SMEP (U/S=0 in the PDE is enough).
    const sup = [e32(PT | P | RW), e32(FRAME | P | RW | US)];
    expect(run("i386", sup, "exec", false, ctl({ smep: true }), va).result).toEqual({ pa: FRAME + 0x234 });
  });
});

describe("SDM oracle: PAE paging", () => {
  const PD = 0x00102000;
  const PT = 0x00103000;
  const FRAME = 0x00800000;
  const va = 0xc0201234; // PDPT index 3, PD index 1, PT index 1
  const pdpte = e64(PD | P);

  it("fetch from an XD page with NXE=0 is a reserved-bit fault (no I/D bit without NXE/SMEP)", () => {
    const r = run(
      "i386-pae",
      [pdpte, e64(PT | P | RW | US), e64(FRAME | P | RW | US, HI_XD)],
      "exec",
      false,
      ctl(),
      va,
    );
    expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b01001, va } });
    expect(r.reason).toBe("reserved");
  });

  it("with NXE=1 the same fetch is a protection fault with I/D; reads still work", () => {
    const entries = [pdpte, e64(PT | P | RW | US), e64(FRAME | P | RW | US, HI_XD)];
    expect(run("i386-pae", entries, "exec", true, ctl({ nxe: true }), va).result).toEqual({
      fault: { vector: 14, errorCode: 0b10101, va },
    });
    expect(run("i386-pae", entries, "read", true, ctl({ nxe: true }), va).result).toEqual({ pa: FRAME + 0x234 });
  });

  it("XD is the OR over levels: XD in the PDE forbids fetches from the whole PT", () => {
    const entries = [pdpte, e64(PT | P | RW | US, HI_XD), e64(FRAME | P | RW | US)];
    expect(run("i386-pae", entries, "exec", false, ctl({ nxe: true }), va).result).toEqual({
      fault: { vector: 14, errorCode: 0b10001, va },
    });
  });

  it("I/D is reported for a not-present fetch when NXE=1", () => {
    const entries = [pdpte, e64(PT | P | RW | US), e64(0)];
    expect(run("i386-pae", entries, "exec", true, ctl({ nxe: true }), va).result).toEqual({
      fault: { vector: 14, errorCode: 0b10100, va },
    });
  });

  it("bits 62:36 are reserved in PAE (unlike IA-32e's ignored 62:52)", () => {
    for (const b of [36, 51, 52, 62]) {
      const entries = [pdpte, e64(PT | P | RW | US), e64(FRAME | P | RW | US, 1 << (b - 32))];
      expect(run("i386-pae", entries, "read", false, ctl({ nxe: true }), va).reason).toBe("reserved");
    }
  });

  it("2 MiB pages need no CR4.PSE; bits 20:13 reserved, PAT bit 12 not", () => {
    const big = PD | 0x00600000 | P | RW | US | PS; // frame 0x00600000 (0x102000's low bits are PAT/reserved!)
    const clean = (0x00600000 | P | RW | US | PS) >>> 0;
    expect(run("i386-pae", [pdpte, e64(clean), e64(0)], "read", false, ctl({ pse: false }), va).result).toEqual({
      pa: 0x00600000 + (va % 0x200000),
    });
    expect(run("i386-pae", [pdpte, e64(big), e64(0)], "read", false, ctl(), va).reason).toBe("reserved");
    expect(run("i386-pae", [pdpte, e64(clean | (1 << 12)), e64(0)], "read", false, ctl(), va).result).toEqual({
      pa: 0x00600000 + (va % 0x200000),
    });
  });

  it("PDPTEs carry no rights and are never written; PDE/PTE get A (and D on the leaf)", () => {
    const r = run(
      "i386-pae",
      [pdpte, e64(PT | P | RW | US), e64(FRAME | P | RW | US)],
      "write",
      true,
      ctl({ wp: true }),
      va,
    );
    expect(r.result).toEqual({ pa: FRAME + 0x234 });
    expect(r.entries.map((e) => e.lo)).toEqual([PD | P, PT | P | RW | US | A, FRAME | P | RW | US | A | D]);
    expect(r.entries.every((e) => e.ignoreLo === 0)).toBe(true);
  });

  it("a not-present PDPTE gives #PF with P=0, and is not written", () => {
    const r = run("i386-pae", [e64(PD), e64(PT | P | RW | US), e64(FRAME | P | RW | US)], "write", true, ctl(), va);
    expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b110, va } });
    expect(r.entries[0]).toEqual({ lo: PD, hi: 0, ignoreLo: 0 });
  });

  it("PDPTE reserved bits (2:1, 8:5, 63:36) fault the load with #GP only when present", () => {
    for (const b of [1, 2, 5, 6, 7, 8, 36, 63]) {
      expect(paePdpteLoadFaults([e64(PD | P), bit64(b)])).toBe(false); // not present
      const bad = { lo: (PD | P | bit64(b).lo) >>> 0, hi: bit64(b).hi };
      expect(paePdpteLoadFaults([e64(0), bad])).toBe(true);
    }
    for (const b of [3, 4, 9, 10, 11]) expect(paePdpteLoadFaults([e64(PD | P | (1 << b))])).toBe(false);
    const r = run("i386-pae", [e64(PD | P | RW), e64(PT | P), e64(FRAME | P)], "read", false, ctl(), va);
    expect(r.result).toEqual({ fault: { vector: 13, errorCode: 0, va } });
    expect(r.reason).toBe("pdpte-load");
  });

  it("indices: PDPT uses VA bits 31:30, PD 29:21, PT 20:12", () => {
    expect([0, 1, 2].map((l) => walkIndex("i386-pae", l, 0xd2345678))).toEqual([3, 0x91, 0x145]);
  });
});

describe("SDM oracle: IA-32e 4-level paging", () => {
  const PDPT = 0x101000;
  const PD = 0x102000;
  const PT = 0x103000;
  const FRAME = 0x800000;
  const va = 0x7f0000201234;
  const l4 = e64(PDPT | P | RW | US);

  it("PML4E.PS is reserved", () => {
    const r = run(
      "amd64",
      [e64(PDPT | P | RW | US | PS), e64(PD | P | RW | US), e64(PT | P | RW | US), e64(FRAME | P)],
      "read",
      false,
      ctl(),
      va,
    );
    expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b1001, va } });
  });

  it("bits 62:52 are ignored, 51:40 reserved (MAXPHYADDR 40)", () => {
    const good = run(
      "amd64",
      [l4, e64(PD | P | RW | US, 0x7ff00000), e64(PT | P | RW | US), e64(FRAME | P | RW | US)],
      "read",
      true,
      ctl(),
      va,
    );
    expect(good.result).toEqual({ pa: FRAME + 0x234 });
    const bad = run(
      "amd64",
      [l4, e64(PD | P | RW | US, 1 << 8), e64(PT | P | RW | US), e64(FRAME | P | RW | US)],
      "read",
      true,
      ctl(),
      va,
    );
    expect(bad.result).toEqual({ fault: { vector: 14, errorCode: 0b1101, va } });
    expect(bad.stopLevel).toBe(1);
  });

  it("1 GiB page: 29:13 reserved; A/D land in the PDPTE; the PD is not consulted", () => {
    const gig = e64(0x40000000 | P | RW | US | PS, 0x12);
    const r = run("amd64", [l4, gig, e64(0xdead000), e64(0xbeef000)], "write", true, ctl({ wp: true }), va);
    expect(r.result).toEqual({ pa: 0x12 * 2 ** 32 + 0x40000000 + (va % 2 ** 30) });
    expect(r.entries[1]).toEqual({ lo: (0x40000000 | P | RW | US | PS | A | D) >>> 0, hi: 0x12, ignoreLo: 0 });
    expect(r.entries[2]).toEqual({ lo: 0xdead000, hi: 0, ignoreLo: 0 });
    expect(r.entries[0]?.lo).toBe(PDPT | P | RW | US | A);
    const bad = run(
      "amd64",
      [l4, e64(0x40000000 | P | RW | US | PS | (1 << 29)), e64(0), e64(0)],
      "read",
      false,
      ctl(),
      va,
    );
    expect(bad.reason).toBe("reserved");
  });

  it("U/S is the AND of all four levels; a user page needs U/S=1 in the PML4E too", () => {
    const entries = [e64(PDPT | P | RW), e64(PD | P | RW | US), e64(PT | P | RW | US), e64(FRAME | P | RW | US)];
    expect(run("amd64", entries, "read", true, ctl(), va).result).toEqual({
      fault: { vector: 14, errorCode: 0b101, va },
    });
    // ...and therefore, for SMEP, the page is a supervisor page.
    expect(run("amd64", entries, "exec", false, ctl({ smep: true }), va).result).toEqual({ pa: FRAME + 0x234 });
  });

  it("a protection fault leaves the leaf unchanged and makes upper A bits don't-care", () => {
    const entries = [l4, e64(PD | P | US), e64(PT | P | RW | US), e64(FRAME | P | RW | US)];
    const r = run("amd64", entries, "write", true, ctl(), va);
    expect(r.result).toEqual({ fault: { vector: 14, errorCode: 0b111, va } });
    expect(r.entries.map((e) => e.ignoreLo)).toEqual([A, A, A, 0]);
    expect(entryMatches(r.entries[0]!, PDPT | P | RW | US | A, 0)).toBe(true);
    expect(entryMatches(r.entries[3]!, FRAME | P | RW | US | A, 0)).toBe(false);
  });

  it("reserved masks sanity", () => {
    expect(reservedMask("amd64", 3, e64(FRAME | P), ctl({ nxe: true }))).toEqual({ lo: 0, hi: 0x000fff00 });
    expect(reservedMask("amd64", 3, e64(FRAME | P), ctl({ nxe: false }))).toEqual({ lo: 0, hi: 0x800fff00 });
    expect(reservedMask("amd64", 2, e64(FRAME | P | PS), ctl({ nxe: true }))).toEqual({
      lo: 0x001fe000,
      hi: 0x000fff00,
    });
    expect(reservedMask("i386", 0, e32(P | PS), ctl({ pse: true }))).toEqual({ lo: 0x003fe000, hi: 0 });
    expect(reservedMask("i386", 0, e32(P | PS), ctl({ pse: false }))).toEqual({ lo: 0, hi: 0 });
  });
});
