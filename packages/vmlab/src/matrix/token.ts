/**
 * Replay tokens: everything needed to rerun one failure of the matrix exactly, as one string a
 * user can paste into `vmlab matrix --replay '…'`. Fields are separated by "|"; the first names
 * the system — `machine/pmap/vm`, then `+erratum` for each erratum that was switched on:
 *
 *   property   `key|property|seed|commands|path|system-seed`
 *              fast-check's seed and counterexample path (with the commands' replay path after
 *              "#"), the command budget, and the seed the systems were built with;
 *   scenario   `key|scenario:name|system-seed|fork-heavy-pages`
 *              scenarios are deterministic given the system and their size;
 *   erratum    `key|erratum:id|seed|size`
 *              an erratum errata-detection missed: rerun its detection at that size.
 */
import { ConfigError } from "@vmlab/core";
import { erratum } from "../errata/index.js";
import type { Combination } from "../registry.js";
import type { MatrixSize } from "./types.js";

export type ReplayCase =
  | {
      readonly kind: "property";
      readonly combo: string;
      readonly errata: readonly string[];
      readonly property: string;
      readonly seed: number;
      readonly commands: number;
      readonly path: string;
      readonly systemSeed: number;
    }
  | {
      readonly kind: "scenario";
      readonly combo: string;
      readonly errata: readonly string[];
      readonly scenario: string;
      readonly systemSeed: number;
      readonly forkHeavyPages: number | undefined;
    }
  | {
      readonly kind: "erratum";
      readonly combo: string;
      readonly errata: readonly string[];
      readonly erratum: string;
      readonly seed: number;
      readonly size: MatrixSize;
    };

export const comboKey = (c: { machine: string; pmap: string; vm: string }): string => `${c.machine}/${c.pmap}/${c.vm}`;

/** The system field: the combination and the errata switched on. */
export function systemKey(c: Combination, errata: readonly string[]): string {
  return [comboKey(c), ...errata].join("+");
}

export function propertyToken(
  c: Combination,
  errata: readonly string[],
  f: { name: string; seed: number; replay: string },
  commands: number,
  systemSeed: number,
): string {
  return [systemKey(c, errata), f.name, f.seed, commands, f.replay, systemSeed].join("|");
}

export function scenarioToken(
  c: Combination,
  errata: readonly string[],
  name: string,
  systemSeed: number,
  forkHeavyPages: number,
): string {
  return [systemKey(c, errata), `scenario:${name}`, systemSeed, forkHeavyPages].join("|");
}

export function erratumToken(c: Combination, id: string, seed: number, size: MatrixSize): string {
  return [comboKey(c), `erratum:${id}`, seed, size].join("|");
}

const FORMAT =
  "a token from a matrix failure: machine/pmap/vm[+erratum…]|property|seed|commands|path|system-seed, " +
  "…|scenario:name|seed|pages or …|erratum:id|seed|size";

function int(token: string, s: string | undefined): number {
  const n = Number(s);
  if (s === undefined || s.trim() === "" || !Number.isInteger(n)) throw new ConfigError("replay", token, FORMAT);
  return n;
}

/** Parse a token (ConfigError when it is not one; unknown errata are the catalogue's ConfigError). */
export function parseToken(token: string): ReplayCase {
  const parts = token.trim().split("|");
  const [system = "", what = ""] = parts;
  const [combo = "", ...errata] = system.split("+");
  for (const id of errata) erratum(id);
  if (what.startsWith("scenario:")) {
    return {
      kind: "scenario",
      combo,
      errata,
      scenario: what.slice("scenario:".length),
      systemSeed: parts[2] === undefined ? 0x5eed : int(token, parts[2]),
      forkHeavyPages: parts[3] === undefined ? undefined : int(token, parts[3]),
    };
  }
  if (what.startsWith("erratum:")) {
    const size = (parts[3] ?? "quick") as MatrixSize;
    if (size !== "quick" && size !== "full") throw new ConfigError("replay", token, FORMAT);
    return {
      kind: "erratum",
      combo,
      errata,
      erratum: erratum(what.slice("erratum:".length)).id,
      seed: int(token, parts[2]),
      size,
    };
  }
  if (what === "" || parts.length < 5 || parts[4] === "") throw new ConfigError("replay", token, FORMAT);
  const seed = int(token, parts[2]);
  return {
    kind: "property",
    combo,
    errata,
    property: what,
    seed,
    commands: int(token, parts[3]),
    path: parts[4] as string,
    // Tokens from before the system seed was recorded: the systems used the property's seed.
    systemSeed: parts[5] === undefined ? seed : int(token, parts[5]),
  };
}
