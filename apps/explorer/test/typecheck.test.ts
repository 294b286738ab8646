/**
 * The explorer's sources need the DOM library, which the root strict typecheck
 * (tsconfig.check.json, no DOM: the packages must stay isomorphic) leaves out, so the explorer is
 * excluded there and typechecked here, with its own tsconfig, inside the normal test run.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { expect, it } from "vitest";

it("the explorer typechecks with its own tsconfig (DOM lib, strict)", () => {
  const root = path.resolve(import.meta.dirname, "..");
  const pkg = createRequire(path.join(root, "../../package.json")).resolve("typescript/package.json");
  const tsc = path.join(path.dirname(pkg), "bin", "tsc");
  let output = "";
  try {
    execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.check.json")], { encoding: "utf8" });
  } catch (e) {
    output = String((e as { stdout?: string }).stdout ?? e);
  }
  // Only the explorer's own files count: packages mid-change elsewhere are their owners' business.
  expect(
    output.split("\n").filter((l) => l.startsWith("apps/explorer/") || l.startsWith("src/") || l.startsWith("test/")),
  ).toEqual([]);
}, 60_000);
