import { render } from "preact";
import { commands } from "./api";
import { App } from "./app";
import "./style.css";

const root = document.getElementById("app");
if (root) {
  render(<App />, root);
  // The first frame with the app in it: tell the shell (start-up figure) and mark the DOM (tests).
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      document.body.setAttribute("data-painted", String(performance.now()));
      void commands.uiReady();
    }),
  );
}
