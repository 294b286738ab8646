/**
 * The vmlab explorer's entry: registers the shipped scenarios and mounts the page. The whole
 * simulated system runs here, in the page (every vmlab package is isomorphic).
 */
import "./style.css";
import "./model/scenarios.js";
import { App } from "./ui/app.js";

const root = document.getElementById("app");
if (!root) throw new Error("index.html has no #app element");
new App().mount(root);
