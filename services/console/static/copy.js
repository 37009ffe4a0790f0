// Copy buttons: <button data-copy="ID" data-copied="Copied" hidden> copies the
// text of the element with that id. Buttons are hidden until this script runs:
// without it the text is still there to select. Tollgate's own file (CSP:
// script-src 'self'); no inline script anywhere.
"use strict";
(function () {
  function say(text) {
    var status = document.getElementById("copy-status");
    if (status) { status.textContent = text; }
  }
  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var label = button.querySelector(".copy-label") || button;
    if (!source) { return; }
    if (!label.hasAttribute("data-label")) { label.setAttribute("data-label", label.textContent); }
    var done = function (text) {
      label.textContent = text;
      say(text);
      window.clearTimeout(button.copyTimer);
      button.copyTimer = window.setTimeout(function () {
        label.textContent = label.getAttribute("data-label");
      }, 2000);
    };
    navigator.clipboard.writeText(source.textContent).then(
      function () {
        done(button.getAttribute("data-copied") || "Copied");
        // For optional analytics (static/analytics.js): which block was copied, never its text.
        document.dispatchEvent(new CustomEvent("tollgate:copied", {
          detail: { block: button.getAttribute("data-copy") }
        }));
      },
      function () { done(button.getAttribute("data-copy-failed") || ""); }
    );
  }
  function start() {
    if (!navigator.clipboard || !window.isSecureContext) { return; }
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
