import { describe, expect, it } from "vitest";
import { errata } from "vmlab";
import { runErrataCommand } from "../src/errata.js";

describe("vmlab errata", () => {
  it("--json prints the catalogue with applicability for every registered combination", () => {
    const lines: string[] = [];
    runErrataCommand(undefined, { json: true }, (s) => lines.push(s));
    const parsed = JSON.parse(lines.join("\n")) as {
      errata: { id: string; applies: unknown[]; immune: unknown[]; runs: unknown[] }[];
    };
    expect(parsed.errata.map((e) => e.id)).toEqual([...errata.known()]);
    for (const e of parsed.errata) expect(e.runs).toEqual([]);
  });

  it("an unknown id is a ConfigError naming the errata field", () => {
    expect(() => runErrataCommand("no-such-erratum", {}, () => {})).toThrow(
      /errata: "no-such-erratum" is not accepted/,
    );
  });
});
