/**
 * Scenarios: named scripts of steps over the public API. An erratum's reproducer is one; the
 * explorer replays them step by step and the CLI runs them to the end. A step is one user-visible
 * operation (a system call, an access, a fork, letting time pass); running it may throw — a
 * KernelPanic ends the scenario at that step.
 */
import { KernelPanic, type PAddr } from "@vmlab/core";
import type { Process, System } from "@vmlab/kernel";
import type { NamedSystemOptions } from "./create.js";

/** What steps share: the system, processes by name, numbers (addresses, descriptors) by name. */
export interface ScenarioContext {
  readonly sys: System;
  readonly procs: Map<string, Process>;
  readonly vars: Map<string, number>;
  /** Named bits of evidence a step records for the verdict (a corrupted byte, a missing mapping). */
  readonly evidence: string[];
  proc(name: string): Process;
  num(name: string): number;
}

export interface Step {
  readonly title: string;
  run(ctx: ScenarioContext): void;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** System options beyond the combination (memory, CPUs, swap, disk timing). */
  readonly options?: Partial<Omit<NamedSystemOptions, "machine" | "pmap" | "vm" | "errata">>;
  readonly steps: readonly Step[];
}

export function newContext(sys: System): ScenarioContext {
  const procs = new Map<string, Process>();
  const vars = new Map<string, number>();
  return {
    sys,
    procs,
    vars,
    evidence: [],
    proc(name) {
      const p = procs.get(name);
      if (!p) throw new Error(`scenario: no process named '${name}'`);
      return p;
    },
    num(name) {
      const v = vars.get(name);
      if (v === undefined) throw new Error(`scenario: no value named '${name}'`);
      return v;
    },
  };
}

/** The outcome of running a scenario to its end or to the first step that failed. */
export interface ScenarioOutcome {
  /** Steps completed without an exception. */
  readonly completed: number;
  /** Index and title of the step that threw, if one did. */
  readonly failedStep?: { readonly index: number; readonly title: string };
  readonly panic?: string;
  /** Any other exception (a signal, an audit's InvariantViolation, an errno). */
  readonly error?: string;
  readonly evidence: readonly string[];
}

/** Run steps [from, to) on a context; stops at the first exception. */
export function runSteps(scn: Scenario, ctx: ScenarioContext, from = 0, to = scn.steps.length): ScenarioOutcome {
  let i = from;
  try {
    for (; i < to; i++) (scn.steps[i] as Step).run(ctx);
    return { completed: i, evidence: ctx.evidence };
  } catch (e) {
    const failedStep = { index: i, title: (scn.steps[i] as Step).title };
    if (e instanceof KernelPanic) return { completed: i, failedStep, panic: e.message, evidence: ctx.evidence };
    return {
      completed: i,
      failedStep,
      error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      evidence: ctx.evidence,
    };
  }
}

/** A step from a title and a function (the common case). */
export function step(title: string, run: (ctx: ScenarioContext) => void): Step {
  return { title, run };
}

export type { PAddr };
