import { describe, expect, it } from "vitest";
import {
  ConfigError,
  ERRNO,
  errnoOf,
  InvariantViolation,
  KernelPanic,
  SignalError,
  SyscallError,
} from "../src/index.js";

describe("errno (NetBSD sys/errno.h numbers)", () => {
  it("the numbers where the BSDs are compared", () => {
    expect(ERRNO.ENOMEM).toBe(12);
    expect(ERRNO.EINVAL).toBe(22);
    expect(ERRNO.EAGAIN).toBe(35);
    expect(ERRNO.EOPNOTSUPP).toBe(45);
    expect(ERRNO.ENOSYS).toBe(78);
    expect(ERRNO.EOVERFLOW).toBe(84);
    expect(ERRNO.ENOTSUP).toBe(86); // NetBSD keeps ENOTSUP distinct from EOPNOTSUPP
    expect(errnoOf("EFAULT")).toBe(14);
  });

  it("no two names share a number", () => {
    const nums = Object.values(ERRNO);
    expect(new Set(nums).size).toBe(nums.length);
  });
});

describe("error types", () => {
  it("ConfigError names the field, the value and what is accepted", () => {
    const e = new ConfigError("machine", "i486", "'i386', 'i386-pae' or 'amd64'");
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.name).toBe("ConfigError");
    expect(e.field).toBe("machine");
    expect(e.value).toBe("i486");
    expect(e.accepted).toBe("'i386', 'i386-pae' or 'amd64'");
    expect(e.message).toBe(`machine: "i486" is not accepted; expected 'i386', 'i386-pae' or 'amd64'`);
    expect(new ConfigError("cpus", 0, "an integer from 1 to 64").message).toBe(
      "cpus: 0 is not accepted; expected an integer from 1 to 64",
    );
  });

  it("SyscallError carries the syscall, the errno name and its NetBSD number", () => {
    const cases = [
      ["mmap", "ENOMEM", 12],
      ["mlock", "EAGAIN", 35],
      ["minherit", "ENOTSUP", 86],
    ] as const;
    for (const [syscall, code, errno] of cases) {
      const e = new SyscallError(syscall, code);
      expect(e).toBeInstanceOf(Error);
      expect(e).toBeInstanceOf(SyscallError);
      expect(e.name).toBe("SyscallError");
      expect(e.syscall).toBe(syscall);
      expect(e.code).toBe(code);
      expect(e.errno).toBe(errno);
      expect(e.message).toBe(`${syscall}: ${code}`);
    }
    expect(new SyscallError("mmap", "EINVAL", "len is 0").message).toBe("mmap: EINVAL (len is 0)");
  });

  it("SignalError carries the signal, the si_code and the address", () => {
    const e = new SignalError("SIGSEGV", "SEGV_ACCERR", 0x7fff_ffff_e000);
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(SignalError);
    expect(e.name).toBe("SignalError");
    expect(e.signal).toBe("SIGSEGV");
    expect(e.code).toBe("SEGV_ACCERR");
    expect(e.addr).toBe(0x7fff_ffff_e000);
    expect(e.message).toBe("SIGSEGV (SEGV_ACCERR) at 0x7fffffffe000");
    expect(new SignalError("SIGBUS", "BUS_OBJERR", 0x1000).message).toBe("SIGBUS (BUS_OBJERR) at 0x1000");
  });

  it("KernelPanic's message starts with 'panic: ' and keeps the bare text", () => {
    const e = new KernelPanic("pmap_remove: bad pte");
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(KernelPanic);
    expect(e.name).toBe("KernelPanic");
    expect(e.message).toBe("panic: pmap_remove: bad pte");
    expect(e.panicMessage).toBe("pmap_remove: bad pte");
  });

  it("InvariantViolation names the layer, the rule and the details", () => {
    const e = new InvariantViolation("pmap", "pv-per-pte", "va 0x1000 has no pv entry");
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(InvariantViolation);
    expect(e.name).toBe("InvariantViolation");
    expect(e.layer).toBe("pmap");
    expect(e.rule).toBe("pv-per-pte");
    expect(e.details).toBe("va 0x1000 has no pv entry");
    expect(e.message).toBe("pmap: pv-per-pte: va 0x1000 has no pv entry");
  });

  it("the types are distinct", () => {
    expect(new KernelPanic("x")).not.toBeInstanceOf(InvariantViolation);
    expect(new SyscallError("mmap", "ENOMEM")).not.toBeInstanceOf(SignalError);
  });
});
