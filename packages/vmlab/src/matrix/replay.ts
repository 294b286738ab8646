/**
 * `vmlab matrix --replay <token>`: rerun exactly one failure — the same combination, errata,
 * system seed and size, and for a property fast-check's seed and shrunk counterexample path — in
 * the calling thread, and report it as a one-row matrix result.
 */

import { selectCombos } from "./jobs.js";
import { comboOk } from "./merge.js";
import { errataSuite, factoryFor, MATRIX_SIZES, propertySuite, scenarioSuite, suiteOf } from "./suites.js";
import { parseToken } from "./token.js";
import type { MatrixResult, MatrixSuite, SuiteResult } from "./types.js";

/** Rerun one failure from its token; `extraErrata` are switched on besides the token's own. */
export function replayMatrix(token: string, extraErrata: readonly string[] = []): MatrixResult {
  const r = parseToken(token);
  const combo = selectCombos([r.combo])[0]!;
  const errata = [...new Set([...r.errata, ...extraErrata])];
  const mem = MATRIX_SIZES.quick.memoryMiB;
  let suite: MatrixSuite;
  let result: SuiteResult;
  switch (r.kind) {
    case "erratum":
      suite = "errata-detection";
      result = errataSuite(combo, r.size, r.seed, r.erratum);
      break;
    case "scenario": {
      suite = "scenarios";
      const pages = r.forkHeavyPages ?? MATRIX_SIZES.quick.forkHeavyPages;
      const t = { combo, seed: r.systemSeed, errata };
      result = scenarioSuite(t, factoryFor(combo, mem, r.systemSeed, errata), pages, [r.scenario]);
      break;
    }
    case "property": {
      suite = suiteOf(r.property);
      const t = { combo, seed: r.seed, systemSeed: r.systemSeed, errata };
      const factory = factoryFor(combo, mem, r.systemSeed, errata);
      result = propertySuite(t, [r.property], factory, { runs: 1, commands: r.commands }, r.path);
      break;
    }
  }
  const suites = { [suite]: result };
  return {
    combos: [{ ...combo, ok: comboOk(suites), suites }],
    ...(errata.length > 0 ? { errata } : {}),
    workers: 1,
  };
}
