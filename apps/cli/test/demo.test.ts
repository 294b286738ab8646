import { describe, expect, it } from "vitest";
import { program, runDemo, setOutput } from "../src/index.js";

describe("vmlab demo", () => {
  const rows = runDemo();
  it("runs on the three machines", () => {
    expect(rows.map((r) => r.machine)).toEqual(["i386", "i386-pae", "amd64"]);
  });
  it.each(rows)("$machine: translation, fault code, A/D, stale TLB, shootdown", (r) => {
    expect(r.translatedPa).toBe(0x40_0010);
    // user (U) + write (W), not present (P = 0)
    expect(r.faultErrorCode).toBe(0b110);
    expect(r.accessedDirty).toBe(true);
    expect(r.staleRead).toBe(0x1111_1111);
    expect(r.freshRead).toBe(0x2222_2222);
    expect(r.shootdown).toEqual({ before: 0x1111_1111, after: 0x2222_2222 });
    expect(r.stats["ipi.sent"]).toBe(1);
  });
  it("prints JSON through the command", async () => {
    const lines: string[] = [];
    setOutput((s) => lines.push(s));
    await program.parseAsync(["node", "vmlab", "demo", "--json"]);
    const parsed = JSON.parse(lines.join("\n")) as { demo: unknown[] };
    expect(parsed.demo).toHaveLength(3);
  });
  it("lists the machines", async () => {
    const lines: string[] = [];
    setOutput((s) => lines.push(s));
    await program.parseAsync(["node", "vmlab", "list", "--json"]);
    const parsed = JSON.parse(lines.join("\n")) as { machines: { name: string }[] };
    expect(parsed.machines.map((m) => m.name)).toEqual(["i386", "i386-pae", "amd64"]);
  });
});
