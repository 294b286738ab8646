/**
 * A recorded run of a scenario on one combination, and replay to any recorded position.
 *
 * Recording runs the scenario once, instrumented, and keeps per step what is cheap to keep: the
 * label, how the call ended, the audit result, the counters after it and the trace events it
 * emitted. The state views (address space, page tables, TLBs, physical memory, pv lists) need the
 * system itself at a position: it is rebuilt by replay — a fresh system with the same combination,
 * configuration and seed, running the scenario until the position is reached. The simulation is
 * deterministic by construction, so the replayed system is the recorded one; replay checks that
 * its counters equal the recorded ones and reports a divergence if they do not.
 */
import {
  createSystem,
  InvariantViolation,
  KernelPanic,
  SignalError,
  SyscallError,
  type System,
  type SystemConfig,
  type TraceEvent,
} from "vmlab";
import { Instrument } from "./instrument.js";
import { type Scenario, scenario as scenarioById } from "./scenario.js";

export interface RunConfig {
  readonly machine: string;
  readonly pmap: string;
  readonly vm: string;
  readonly memoryMiB: number;
  readonly cpus: number;
  readonly seed: number;
  readonly scenario: string;
  /** Switch the reproducer's erratum on. */
  readonly erratumOn: boolean;
  /** Run every layer's audit after each step. */
  readonly audit: boolean;
}

export type OutcomeKind = "ok" | "panic" | "signal" | "syscall" | "violation" | "error";

export interface Outcome {
  readonly kind: OutcomeKind;
  readonly message: string;
}

export interface StepRecord {
  /** 1-based position after this step. */
  readonly position: number;
  readonly label: string;
  readonly pid: number | undefined;
  /** How the call ended. */
  readonly outcome: Outcome;
  /** The audit after the step, when auditing (undefined: passed or not run). */
  readonly violation: string | undefined;
  readonly counters: Readonly<Record<string, number>>;
  /** Trace events emitted during the step (at most MAX_EVENTS_PER_STEP, the last ones). */
  readonly events: readonly TraceEvent[];
  readonly eventsDropped: number;
}

export interface Recording {
  readonly config: RunConfig;
  readonly scenario: Scenario;
  /** The system as built (the scenario's needs may override memory and CPUs). */
  readonly system: SystemConfig;
  readonly bootCounters: Readonly<Record<string, number>>;
  readonly bootEvents: readonly TraceEvent[];
  readonly steps: readonly StepRecord[];
  /** How the scenario ended. */
  readonly end: Outcome;
  /** The position where something went wrong: first panic, else first audit failure, else the error that ended the run. */
  readonly failure: number | undefined;
}

/** Steps kept at most per run (a larger workload is cut there). */
export const MAX_STEPS = 20_000;
export const MAX_EVENTS_PER_STEP = 400;

class StopReplay extends Error {
  constructor() {
    super("replay reached its position");
  }
}

class StepLimit extends Error {
  constructor() {
    super(`stopped after ${MAX_STEPS} steps`);
  }
}

/** Classify an error thrown by a call. */
export function outcomeOf(e: unknown): Outcome {
  if (e === undefined) return { kind: "ok", message: "" };
  if (e instanceof KernelPanic) return { kind: "panic", message: e.message };
  if (e instanceof SignalError) return { kind: "signal", message: e.message };
  if (e instanceof SyscallError) return { kind: "syscall", message: e.message };
  if (e instanceof InvariantViolation) return { kind: "violation", message: e.message };
  return { kind: "error", message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}

/** createSystem for a run configuration (errata only when switched on). */
export function buildSystem(c: RunConfig, s: Scenario): System {
  const n = s.needs ?? {};
  return createSystem({
    machine: c.machine,
    pmap: c.pmap,
    vm: c.vm,
    memoryMiB: n.memoryMiB ?? c.memoryMiB,
    cpus: n.cpus ?? c.cpus,
    seed: n.seed ?? c.seed,
    errata: c.erratumOn ? s.errata : [],
    ...(n.swapMiB !== undefined ? { swapMiB: n.swapMiB } : {}),
    ...(n.diskMiB !== undefined ? { diskMiB: n.diskMiB } : {}),
    ...(n.disk !== undefined ? { disk: n.disk } : {}),
  });
}

/** Every layer's audit, as a message (undefined when it passes or the system is dead). */
function auditMessage(sys: System): string | undefined {
  if (sys.panicked !== undefined) return undefined;
  try {
    sys.audit();
    return undefined;
  } catch (e) {
    return outcomeOf(e).message;
  }
}

/** The trace events emitted since `nextSeq`, and the next sequence number. */
function eventsSince(sys: System, nextSeq: number): { events: TraceEvent[]; next: number } {
  const events = sys.trace({ sinceSeq: nextSeq });
  const last = events[events.length - 1];
  return { events, next: last === undefined ? nextSeq : last.seq + 1 };
}

/** Run a scenario once, recording every step. */
export function record(config: RunConfig): Recording {
  const s = scenarioById(config.scenario);
  const sys = buildSystem(config, s);
  const bootCounters = sys.stats();
  const boot = eventsSince(sys, 0);
  let nextSeq = boot.next;
  const steps: StepRecord[] = [];
  const errors: unknown[] = [];
  const inst = new Instrument({
    before: (index) => {
      if (index >= MAX_STEPS) throw new StepLimit();
    },
    after: (index, label, pid, error) => {
      const violation = config.audit ? auditMessage(sys) : undefined;
      const got = eventsSince(sys, nextSeq);
      nextSeq = got.next;
      const dropped = Math.max(0, got.events.length - MAX_EVENTS_PER_STEP);
      steps.push({
        position: index + 1,
        label,
        pid,
        outcome: outcomeOf(error),
        violation,
        counters: sys.stats(),
        events: dropped > 0 ? got.events.slice(dropped) : got.events,
        eventsDropped: dropped,
      });
      errors[index] = error;
    },
  });
  let end: Outcome = { kind: "ok", message: "completed" };
  let endError: unknown;
  try {
    s.run(inst.system(sys), {
      step: (label, fn) => inst.step(label, undefined, fn),
      seed: config.seed,
      erratumOn: config.erratumOn,
    });
  } catch (e) {
    endError = e;
    end = e instanceof StepLimit ? { kind: "error", message: e.message } : outcomeOf(e);
  }
  return {
    config,
    scenario: s,
    system: sys.config,
    bootCounters,
    bootEvents: boot.events,
    steps,
    end,
    failure: failurePosition(steps, errors, endError),
  };
}

function failurePosition(
  steps: readonly StepRecord[],
  errors: readonly unknown[],
  endError: unknown,
): number | undefined {
  const panic = steps.find((r) => r.outcome.kind === "panic");
  if (panic) return panic.position;
  const violation = steps.find((r) => r.violation !== undefined);
  if (violation) return violation.position;
  if (endError !== undefined) {
    const i = errors.indexOf(endError);
    if (i >= 0) return i + 1;
  }
  return undefined;
}

export interface Replayed {
  readonly sys: System;
  readonly position: number;
  /** Counters that differ from the recording at this position (empty: identical). */
  readonly divergence: string[];
}

/** Rebuild the system at `position` (0 = just booted) by running the scenario up to it. */
export function replay(rec: Recording, position: number): Replayed {
  const c = rec.config;
  const sys = buildSystem(c, rec.scenario);
  const inst = new Instrument({
    before: (index) => {
      if (index >= position) throw new StopReplay();
    },
    after: () => {
      if (c.audit) auditMessage(sys);
    },
  });
  try {
    rec.scenario.run(inst.system(sys), {
      step: (label, fn) => inst.step(label, undefined, fn),
      seed: c.seed,
      erratumOn: c.erratumOn,
    });
  } catch {
    // StopReplay, or the error that ended the recorded run too.
  }
  const want = position === 0 ? rec.bootCounters : rec.steps[position - 1]?.counters;
  return { sys, position, divergence: want ? diffCounters(want, sys.stats()) : [] };
}

function diffCounters(want: Readonly<Record<string, number>>, got: Readonly<Record<string, number>>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(want), ...Object.keys(got)])) {
    if (want[k] !== got[k]) out.push(`${k}: recorded ${want[k]}, replayed ${got[k]}`);
  }
  return out;
}
