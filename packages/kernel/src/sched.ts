/**
 * Sleeping, the pageout daemon's scheduling, and the out-of-swap killer (docs/decisions/0007).
 *
 * The simulator runs one kernel path at a time. A path that must wait (tsleep/biowait/vm_wait)
 * lets simulated time pass instead: the pageout daemon runs if it was woken, otherwise the CPU's
 * clock moves to the next device event, which raises its interrupt; interrupts are delivered on
 * their CPUs (nested in the sleeper's own CPU only at its next access, as hardware would). When
 * no event is pending and the daemon cannot free anything, the wait can never end: the sleeper
 * gets `false` and the VM answers KERN_RESOURCE_SHORTAGE.
 */
import { type Counter, SignalError } from "@vmlab/core";
import type { Cpu } from "@vmlab/machine";
import type { Kernel } from "./kernel.js";
import type { Proc } from "./proc.js";

/** Daemon passes in a row that may free nothing before a sleeper gives up (deactivate, launder, free). */
const FRUITLESS_PASSES = 4;

export class Scheduler {
  /** wakeup(&vm_pages_needed) was called and the daemon has not run since. */
  pagedaemonWanted = false;
  private inDaemon = false;
  private readonly daemonOwner = { name: "pagedaemon" };
  readonly sleeps: Counter;
  readonly daemonRuns: Counter;
  readonly oomKills: Counter;

  constructor(private readonly k: Kernel) {
    const c = k.services.counters;
    this.sleeps = c.counter("kern.sleep");
    this.daemonRuns = c.counter("vm.pagedaemon.run");
    this.oomKills = c.counter("kern.oom_kill");
  }

  wakeupPagedaemon(): void {
    this.pagedaemonWanted = true;
  }

  /**
   * One pass of the pageout daemon, as its own kernel thread on the current CPU. Returns whether
   * it made progress: pages freed or writes started.
   */
  runPagedaemon(): boolean {
    if (this.inDaemon) return false;
    const k = this.k;
    const cpu = k.machine.curcpu;
    const owner = k.services.curthreadOf[cpu.id];
    const free = k.vm.freePages;
    const io = k.disksInFlight();
    this.inDaemon = true;
    this.pagedaemonWanted = false;
    k.services.curthreadOf[cpu.id] = this.daemonOwner;
    try {
      this.daemonRuns.value++;
      k.vm.pagedaemon();
    } finally {
      this.inDaemon = false;
      if (owner !== undefined) k.services.curthreadOf[cpu.id] = owner;
    }
    return k.vm.freePages > free || k.disksInFlight() > io;
  }

  /** A scheduling point (end of a system call or fault): run the daemon if it was woken. */
  yield(): void {
    if (this.pagedaemonWanted && !this.inDaemon && this.k.machine.curcpu.depth === 0) this.runPagedaemon();
  }

  /** tsleep(wmesg) until cond(): see the file comment. */
  sleep(wmesg: string, cond: () => boolean): boolean {
    const k = this.k;
    const cpu = k.machine.curcpu;
    if (cpu.depth > 0) k.services.panic(`tsleep: "${wmesg}" called from an interrupt handler`);
    this.sleeps.value++;
    // The sleeper gives up the CPU: other work (interrupts included) runs at spl0 meanwhile.
    const s = k.services.splx0();
    try {
      let fruitless = 0;
      for (;;) {
        if (cond()) return true;
        if (k.services.panicked !== undefined) return false;
        if (k.machine.events.size > 0) {
          this.advanceToNextEvent(cpu);
          continue;
        }
        if (this.deliverIdle()) continue;
        // Nothing in flight: only the daemon can change anything now.
        if (fruitless >= FRUITLESS_PASSES || this.inDaemon) return cond();
        fruitless = this.runPagedaemon() ? 0 : fruitless + 1;
      }
    } finally {
      k.services.splx(s);
    }
  }

  /** Let the sleeper's clock run to the next device event; run it and what it raises. */
  private advanceToNextEvent(cpu: Cpu): void {
    const t = this.k.machine.events.nextTime();
    if (t > cpu.cycles) cpu.cycles = t;
    cpu.service();
    this.deliverIdle();
    if (this.pagedaemonWanted) this.runPagedaemon();
  }

  /**
   * Deliver interrupts pending on the other CPUs: they are idle or in user mode while this path
   * runs (the simulator interleaves kernel paths), so they take them at once. Returns whether any ran.
   */
  private deliverIdle(): boolean {
    const k = this.k;
    let ran = false;
    for (const c of k.machine.cpus) {
      if (c === k.machine.curcpu || c.pendingInterrupts.length === 0) continue;
      const before = c.interrupts;
      k.machine.runOn(c, () => c.deliverPendingInterrupts());
      if (c.interrupts !== before) ran = true;
    }
    return ran;
  }

  /**
   * Out of memory with nothing left to page out (FreeBSD vm_pageout_oom, NetBSD uvm_pageout's
   * "out of swap" kill): kill the process with the most resident pages. Returns true if a process
   * other than `current` was killed (the caller retries); if `current` is the largest it is killed
   * and SIGKILL is thrown.
   */
  oomKill(current: Proc | undefined): boolean {
    const k = this.k;
    let victim: Proc | undefined;
    for (const p of k.procs.values()) {
      if (p.state !== "running") continue;
      if (!victim || p.space.pmap.residentCount > victim.space.pmap.residentCount) victim = p;
    }
    if (!victim) return false;
    this.oomKills.value++;
    const reason = `pid ${victim.pid} was killed: out of swap space`;
    k.services.trace.emit("kernel", "oom_kill", { pid: victim.pid, resident: victim.space.pmap.residentCount, reason });
    victim.kill(9, reason);
    if (victim === current) throw new SignalError("SIGKILL", "SI_NOINFO", 0, reason);
    return true;
  }
}
