/**
 * Interrupt priority levels, as the BSD spl*() calls manage them. An interrupt source at level L
 * is delivered only while the CPU's level is below L; raising the level masks it, lowering it
 * again lets a pending one in (BSD splx runs what became unmasked).
 *
 * Order: spl0 < splsoftclock < splbio < splvm (= splimp) < splclock < splhigh.
 */
export const IPL = {
  NONE: 0,
  SOFTCLOCK: 1,
  BIO: 2,
  VM: 3,
  IMP: 3,
  CLOCK: 4,
  HIGH: 5,
} as const;
export type Ipl = (typeof IPL)[keyof typeof IPL];

export const IPL_NAMES: Readonly<Record<number, string>> = {
  0: "spl0",
  1: "splsoftclock",
  2: "splbio",
  3: "splvm",
  4: "splclock",
  5: "splhigh",
};

/** What spl needs from a CPU: its current level and a way to run unmasked pending interrupts. */
export interface SplCpu {
  ipl: number;
  deliverPendingInterrupts(): void;
}

/** splraise(level): raise (never lower) the level, returning the previous one for splx. */
export function splraise(cpu: SplCpu, level: number): number {
  const s = cpu.ipl;
  if (level > s) cpu.ipl = level;
  return s;
}

/** splx(s): restore a saved level; interrupts it unmasks run now. */
export function splx(cpu: SplCpu, s: number): void {
  const old = cpu.ipl;
  cpu.ipl = s;
  if (s < old) cpu.deliverPendingInterrupts();
}

export const splsoftclock = (cpu: SplCpu): number => splraise(cpu, IPL.SOFTCLOCK);
export const splbio = (cpu: SplCpu): number => splraise(cpu, IPL.BIO);
export const splvm = (cpu: SplCpu): number => splraise(cpu, IPL.VM);
export const splimp = (cpu: SplCpu): number => splraise(cpu, IPL.IMP);
export const splclock = (cpu: SplCpu): number => splraise(cpu, IPL.CLOCK);
export const splhigh = (cpu: SplCpu): number => splraise(cpu, IPL.HIGH);
/** spl0(): drop to level 0 and run everything pending. */
export function spl0(cpu: SplCpu): number {
  const s = cpu.ipl;
  splx(cpu, IPL.NONE);
  return s;
}
