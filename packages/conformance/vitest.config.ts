import { fileURLToPath } from "node:url";
import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";

// The integration tests (test/mach.test.ts) import concrete parts, which @vmlab/conformance must
// not depend on: they resolve here, for the tests only, to the parts' sources.
const part = (dir: string) => fileURLToPath(new URL(`../${dir}/src/index.ts`, import.meta.url));

export default mergeConfig(
  shared,
  defineProject({
    test: { name: "conformance" },
    resolve: {
      alias: {
        "@vmlab/hw-i386": part("hw-i386"),
        "@vmlab/hw-amd64": part("hw-amd64"),
        "@vmlab/pmap-mach": part("pmap-mach"),
        "@vmlab/vm-mach": part("vm-mach"),
      },
    },
  }),
);
