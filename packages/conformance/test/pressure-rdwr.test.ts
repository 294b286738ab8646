/**
 * read(2)/write(2) under held memory pressure (decision 0011). The kernel wires the user buffer
 * for the transfer (vslock, decision 0007); with pressure held and nothing left to page out that
 * wiring may find no memory. NetBSD's uvm_fault answers ENOMEM once nothing is reclaimable,
 * uvm_fault_wire and uvm_vslock pass it on, and physio returns it with nothing of the chunk moved
 * (dofileread keeps the error: only ERESTART, EINTR and EWOULDBLOCK after a partial transfer turn
 * into success). The model accepts exactly that ENOMEM, only while pressure is held, only for a
 * call with bytes to move, and then requires that nothing moved: file, offset and buffer as before.
 */
import { PAGE_SIZE, PROT_READ, PROT_WRITE } from "@vmlab/core";
import { describe, expect, it } from "vitest";
import {
  type MmapArgs,
  MmapCommand,
  RangeCommand,
  type Real,
  setup,
  VerifyCommand,
  type World,
} from "../src/commands.js";
import { type FileIoArgs, FileIoCommand, PressureCommand } from "../src/commands-io.js";
import { fakeSystem, type WireShortage } from "./support/fake-system.js";
import { acceptedUnderPressure, bootSystem, runCommands } from "./support/parts.js";

const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

function mmap(pages: number): MmapCommand {
  const a: MmapArgs = {
    p: 0,
    via: 0,
    pages,
    prot: RW,
    shared: false,
    wired: false,
    placement: "any",
    region: 0,
    page: 0,
  };
  return new MmapCommand(a);
}

/** read or write of `pages` pages of file 0 at offset 0, between it and region `region`'s start. */
function io(op: "read" | "write", pages: number, region = 0, bytes = 0): FileIoCommand {
  const a: FileIoArgs = {
    p: 0,
    via: 0,
    op,
    file: 0,
    page: 0,
    slot: 0,
    len: pages * P + bytes,
    region,
    bpage: 0,
    bslot: 0,
  };
  return new FileIoCommand(a);
}

const rdwrLines = (r: Real) => acceptedUnderPressure(r).filter((l) => /\] (read|write)\(/.test(l));

/**
 * A 64-page region written (its bytes into the file), a second 64-page region; under pressure a
 * write from the first and a read into the second; after relief both regions, and the file read
 * back into the second, agree with the model.
 */
function transfersUnderPressure(w: World, r: Real): void {
  runCommands(w, r, mmap(64), io("write", 64), mmap(64));
  runCommands(w, r, new PressureCommand(0), io("write", 64, 1), io("read", 64, 0));
  runCommands(w, r, new PressureCommand(null), new VerifyCommand(0, 0), io("read", 64, 0), new VerifyCommand(0, 0));
}

describe("the acceptance, against the fake system", () => {
  const fake = (s: WireShortage) => fakeSystem({ machine: "i386-pae", wireShortage: s });

  it("ENOMEM with nothing moved, while pressure is held, is accepted for read and write", () => {
    const { model: w, real: r } = setup(fake({ rdwr: "ENOMEM" }), { files: true });
    transfersUnderPressure(w, r);
    expect(rdwrLines(r)).toEqual([
      expect.stringMatching(/write\(\d+, 0x[0-9a-f]+, 0x40000\) → ENOMEM under memory pressure/),
      expect.stringMatching(/read\(\d+, 0x[0-9a-f]+, 0x40000\) → ENOMEM under memory pressure/),
    ]);
  });

  it("EFAULT instead is a mismatch", () => {
    const { model: w, real: r } = setup(fake({ rdwr: "EFAULT" }), { files: true });
    expect(() => transfersUnderPressure(w, r)).toThrow(/write\(.*expected success, got EFAULT/);
  });

  it("a read that moved its bytes and still failed is caught when the buffer is read back", () => {
    const { model: w, real: r } = setup(fake({ rdwr: "ENOMEM", rdwrTransfers: true }), { files: true });
    runCommands(w, r, mmap(8), new PressureCommand(0));
    // The fake moved the file's 3 pages into the zero-filled region and answered ENOMEM.
    runCommands(w, r, io("read", 3, 0));
    expect(() => runCommands(w, r, new VerifyCommand(0, 0))).toThrow(/verify: page 0x[0-9a-f]+ of pid 1/);
  });

  it("a write that moved its bytes and still failed is caught when the file is read back", () => {
    const { model: w, real: r } = setup(fake({ rdwr: "ENOMEM", rdwrTransfers: true }), { files: true });
    runCommands(w, r, mmap(8), mmap(8));
    runCommands(w, r, new PressureCommand(0), io("write", 8, 1), new PressureCommand(null));
    expect(() => runCommands(w, r, io("read", 8, 0), new VerifyCommand(0, 0))).toThrow(/read\(|verify/);
  });

  it("the same ENOMEM without held pressure is a mismatch", () => {
    const sys = fake({ rdwr: "ENOMEM" });
    const { model: w, real: r } = setup(sys, { files: true });
    runCommands(w, r, mmap(8));
    sys.memoryPressure(1); // behind the model's back
    expect(() => runCommands(w, r, io("write", 8))).toThrow(/write\(.*expected success, got ENOMEM/);
  });
});

describe.each(["i386 mach/mach", "i386-pae cranor/uvm", "amd64 freebsd/freebsd"])(
  "transfers under held pressure on %s, without swap",
  (name) => {
    // Without swap nothing anonymous can be paged out. A 256-page region is locked 8 pages at a
    // time under pressure until the locks find no memory (those are ENOMEM, accepted and undone),
    // so free memory is down to the kernel's reserve; a 64-page write from an untouched buffer
    // then cannot wire it.
    it("a buffer that cannot be wired: write is ENOMEM, nothing moved; after relief both sides agree", () => {
      const { model: w, real: r } = setup(bootSystem(name, { swapMiB: 0 }), { files: true });
      runCommands(w, r, mmap(256), mmap(64), new PressureCommand(0));
      for (let i = 0; i < 32; i++) {
        runCommands(w, r, new RangeCommand("mlock", 0, 0, { region: 1, page: i * 8, pages: 8, shape: 0, slop: 0 }, 0));
      }
      expect(acceptedUnderPressure(r).some((l) => l.includes("mlock("))).toBe(true);
      runCommands(w, r, io("write", 64, 0));
      expect(rdwrLines(r)).toEqual([expect.stringMatching(/write\(\d+, 0x[0-9a-f]+, 0x40000\) → ENOMEM/)]);
      runCommands(w, r, new PressureCommand(null), new VerifyCommand(0, 0), io("read", 3, 0), io("write", 64, 1));
      runCommands(w, r, io("read", 64, 0), new VerifyCommand(0, 0));
    }, 120_000);
  },
);
