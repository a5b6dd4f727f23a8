/* dealdesk chat widget: `<script src="https://dealdesk.example.com/widget.js"></script>` adds a
 * chat button and panel to any page. /widget.js serves chat.js followed by this file. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src, window.location.href).origin : "";
  if (base === window.location.origin) base = "";

  function init() {
    if (document.getElementById("dealdesk-widget")) return;
    var style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = base + "/chat/assets/chat.css";
    document.head.appendChild(style);

    var host = document.createElement("div");
    host.id = "dealdesk-widget";
    host.className = "ddw";
    var launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "ddw-launcher";
    launcher.setAttribute("aria-expanded", "false");
    launcher.textContent = "Ask dealdesk";
    var panel = document.createElement("div");
    panel.className = "ddw-panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "dealdesk chat");
    host.appendChild(panel);
    host.appendChild(launcher);
    document.body.appendChild(host);

    var chat = null;
    function toggle(open) {
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      launcher.textContent = open ? "Close" : "Ask dealdesk";
      if (!open) return;
      if (!chat) chat = window.DealdeskChat.mount(panel, { baseUrl: base, compact: true });
      // The panel comes before the launcher in the page: take the keyboard into it.
      chat.focus();
    }
    launcher.addEventListener("click", function () { toggle(panel.hidden); });
    panel.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      toggle(false);
      launcher.focus();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
