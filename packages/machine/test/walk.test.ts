/**
 * The access-rights table of SDM Vol. 3A 4.6 (no SMAP, no protection keys), checked against the
 * rules written out case by case. The full walk is tested against the SDM oracle in
 * sdm-oracle.test.ts and through real tables in hw-i386 and hw-amd64.
 */
import { describe, expect, it } from "vitest";
import { ACC_EXEC, ACC_READ, ACC_WRITE, accOf, buildRightsTable, TLBF_U, TLBF_W, TLBF_XD } from "../src/index.js";

type Case = [w: boolean, u: boolean, xd: boolean, acc: 0 | 1 | 2, user: boolean, ok: boolean];

/** SDM 4.6.1 for one combination of controls, written as an explicit list. */
function expected(wp: boolean, smep: boolean): Case[] {
  const out: Case[] = [];
  for (const w of [false, true])
    for (const u of [false, true])
      for (const xd of [false, true]) {
        // Supervisor-mode data reads: any page (no SMAP).
        out.push([w, u, xd, ACC_READ, false, true]);
        // Supervisor-mode writes: with CR0.WP=0 any page; with WP=1 only writable pages.
        out.push([w, u, xd, ACC_WRITE, false, wp ? w : true]);
        // Supervisor-mode fetches: not from XD pages; with SMEP not from user pages.
        out.push([w, u, xd, ACC_EXEC, false, !xd && !(smep && u)]);
        // User-mode reads: user pages only.
        out.push([w, u, xd, ACC_READ, true, u]);
        // User-mode writes: writable user pages only, whatever WP says.
        out.push([w, u, xd, ACC_WRITE, true, u && w]);
        // User-mode fetches: user pages without XD.
        out.push([w, u, xd, ACC_EXEC, true, u && !xd]);
      }
  return out;
}

describe("buildRightsTable", () => {
  for (const wp of [false, true])
    for (const smep of [false, true])
      it(`matches SDM 4.6 with WP=${+wp} SMEP=${+smep}`, () => {
        const t = buildRightsTable(wp, smep);
        expect(t.length).toBe(64);
        const cases = expected(wp, smep);
        expect(cases.length).toBe(48);
        for (const [w, u, xd, acc, user, ok] of cases) {
          const idx = (w ? TLBF_W : 0) | (u ? TLBF_U : 0) | (xd ? TLBF_XD : 0) | (acc << 3) | ((user ? 1 : 0) << 5);
          expect({ w, u, xd, acc, user, ok: t[idx] === 1 }).toEqual({ w, u, xd, acc, user, ok });
        }
      });

  it("spot checks: WP lets a supervisor write a read-only page only when clear; SMEP blocks user code", () => {
    const idx = (rights: number, acc: number, user: boolean) => rights | (acc << 3) | ((user ? 1 : 0) << 5);
    expect(buildRightsTable(false, false)[idx(0, ACC_WRITE, false)]).toBe(1);
    expect(buildRightsTable(true, false)[idx(0, ACC_WRITE, false)]).toBe(0);
    expect(buildRightsTable(true, false)[idx(TLBF_U, ACC_WRITE, true)]).toBe(0);
    expect(buildRightsTable(false, false)[idx(TLBF_U, ACC_EXEC, false)]).toBe(1);
    expect(buildRightsTable(false, true)[idx(TLBF_U, ACC_EXEC, false)]).toBe(0);
    expect(buildRightsTable(false, true)[idx(TLBF_U, ACC_READ, false)]).toBe(1);
  });

  it("maps access names to codes", () => {
    expect([accOf("read"), accOf("write"), accOf("exec")]).toEqual([ACC_READ, ACC_WRITE, ACC_EXEC]);
    expect([ACC_READ, ACC_WRITE, ACC_EXEC]).toEqual([0, 1, 2]);
  });
});
