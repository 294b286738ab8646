/** @vmlab/cli — the command line as a library (for tests and embedding). */
export { type DemoRow, runDemo } from "./demo.js";
export { program, setOutput } from "./program.js";
