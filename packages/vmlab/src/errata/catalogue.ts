/**
 * The errata catalogue: the historic bugs of the seed documents, each a switch (`errata: [id]` in
 * createSystem) that puts the bug back into the part where it lived, with a reproducer scenario
 * and the combinations where it can show (docs/errata.md tells each story).
 *
 * `errata.list()` and `errata.reproduce(id, combo, { enabled })` are the library calls behind
 * `vmlab errata --json` (API.md).
 */
import { ConfigError } from "@vmlab/core";
import { createSystem } from "../create.js";
import { type Combination, combinations } from "../registry.js";
import { newContext, runSteps, type Scenario, type ScenarioOutcome } from "../scenario.js";

export interface Erratum {
  readonly id: string;
  /** The seed document it comes from (../shared/seeds/). */
  readonly seed: string;
  readonly title: string;
  /** Whether the bug can show on this combination, and why (immune combinations say why not). */
  applies(c: Combination): { readonly applies: boolean; readonly why: string };
  readonly reproducer: Scenario;
  /**
   * The verdict: did the run show the bug? A panic with the original text, or corruption the
   * steps recorded as evidence.
   */
  reproduced(outcome: ScenarioOutcome): boolean;
  /**
   * The conformance checks (property or scenario names) known to catch it. Errata detection tries
   * these first and then every other check in order; a hint decides nothing by itself — the check
   * must still fail with the erratum on and pass with it off.
   */
  readonly caughtBy?: readonly string[];
}

const CATALOGUE: Erratum[] = [];
/** The ids in the catalogue (kept current as errata register). */
export const KNOWN_ERRATA: readonly string[] = [];

/** Register an erratum (the parts' errata modules call this at import). */
export function registerErratum(e: Erratum): void {
  if (CATALOGUE.some((x) => x.id === e.id)) throw new Error(`erratum ${e.id} registered twice`);
  CATALOGUE.push(e);
  (KNOWN_ERRATA as string[]).push(e.id);
}

export function erratum(id: unknown): Erratum {
  const e = CATALOGUE.find((x) => x.id === id);
  if (!e) {
    throw new ConfigError(
      "errata",
      id,
      CATALOGUE.length ? `one of ${CATALOGUE.map((x) => x.id).join(", ")}` : "no erratum yet (the catalogue is empty)",
    );
  }
  return e;
}

export function knownErrata(): readonly string[] {
  return CATALOGUE.map((e) => e.id);
}

/** Throws the ConfigError API.md asks for when an erratum cannot apply to the combination. */
export function checkErrata(ids: readonly string[], c: Combination): void {
  for (const id of ids) {
    const a = erratum(id).applies(c);
    if (!a.applies) {
      throw new ConfigError(
        "errata",
        id,
        `an erratum that applies to ${c.machine}/${c.pmap}/${c.vm} (${id} does not: ${a.why})`,
      );
    }
  }
}

export interface ErratumRun {
  readonly machine: string;
  readonly pmap: string;
  readonly vm: string;
  readonly enabled: boolean;
  readonly reproduced: boolean;
  readonly panic?: string;
  /** What happened, in one line: the step that failed and why, or that the run was clean. */
  readonly detail: string;
  /** The step index (0-based) where the run went wrong, if it did. */
  readonly step?: number;
  /** Trace events around the failure (the last ones recorded). */
  readonly trace: readonly { seq: number; cpu: number; depth: number; layer: string; name: string }[];
}

/** Run an erratum's reproducer on one combination with the erratum on or off. */
export function reproduce(id: string, c: Combination, opts: { enabled: boolean; seed?: number }): ErratumRun {
  const e = erratum(id);
  const sys = createSystem({
    ...e.reproducer.options,
    ...c,
    seed: opts.seed ?? e.reproducer.options?.seed ?? 1,
    errata: opts.enabled ? [id] : [],
  });
  const ctx = newContext(sys);
  const outcome = runSteps(e.reproducer, ctx);
  const reproduced = e.reproduced(outcome);
  const where = outcome.failedStep ? `step ${outcome.failedStep.index + 1} (${outcome.failedStep.title})` : "";
  const detail = outcome.panic
    ? `${where}: ${outcome.panic}`
    : outcome.error
      ? `${where}: ${outcome.error}`
      : outcome.evidence.length
        ? `completed with evidence: ${outcome.evidence.join("; ")}`
        : `all ${outcome.completed} steps completed cleanly`;
  return {
    ...c,
    enabled: opts.enabled,
    reproduced,
    ...(outcome.panic ? { panic: outcome.panic } : {}),
    detail,
    ...(outcome.failedStep ? { step: outcome.failedStep.index } : {}),
    trace: sys
      .trace({ limit: 24 })
      .map((t) => ({ seq: t.seq, cpu: t.cpu, depth: t.depth, layer: t.layer, name: t.name })),
  };
}

export interface ErratumReport {
  readonly id: string;
  readonly seed: string;
  readonly title: string;
  readonly applies: readonly Combination[];
  readonly immune: readonly (Combination & { why: string })[];
  readonly runs: readonly ErratumRun[];
}

/**
 * The catalogue with applicability per registered combination (or per one of `combinations`);
 * `run` adds both runs per applicable one.
 */
export function list(opts: { run?: boolean; ids?: readonly string[]; combinations?: readonly Combination[] } = {}): {
  errata: ErratumReport[];
} {
  const out: ErratumReport[] = [];
  for (const e of CATALOGUE) {
    if (opts.ids && !opts.ids.includes(e.id)) continue;
    const applies: Combination[] = [];
    const immune: (Combination & { why: string })[] = [];
    for (const c of opts.combinations ?? combinations()) {
      const a = e.applies(c);
      if (a.applies) applies.push(c);
      else immune.push({ ...c, why: a.why });
    }
    const runs: ErratumRun[] = [];
    if (opts.run) {
      for (const c of applies) {
        runs.push(reproduce(e.id, c, { enabled: true }));
        runs.push(reproduce(e.id, c, { enabled: false }));
      }
    }
    out.push({ id: e.id, seed: e.seed, title: e.title, applies, immune, runs });
  }
  return { errata: out };
}

export const errata = { list, reproduce, erratum, known: knownErrata };
