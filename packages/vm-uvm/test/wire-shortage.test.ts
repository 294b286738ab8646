/**
 * UVM under memory shortage (decision 0011): the testkit's shared suite — wirings that find no
 * memory unwind what they wired, a fork that cannot copy wired memory leaves nothing behind, and
 * MCL_FUTURE does not wire a SysV attach.
 */
import { describeWireShortage } from "@vmlab/testkit";
import { TestSystem } from "./support/system.js";

describeWireShortage((opts) => new TestSystem(opts));
