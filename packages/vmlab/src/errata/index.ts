/**
 * The errata catalogue and its entries. Each entry lives in a file named after its id and
 * registers itself when imported here.
 */
export * from "./catalogue.js";

import "./freebsd-1996-aptd-interrupt.js";
import "./netbsd-1997-stale-pv.js";
import "./freebsd-2006-pvchunk-kva-recursion.js";
import "./netbsd-2019-wire-underflow.js";
import "./freebsd-2009-promote-litter.js";
