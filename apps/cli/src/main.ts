#!/usr/bin/env node
/** The vmlab command line. */
import { program } from "./program.js";

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
