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

    var mounted = false;
    launcher.addEventListener("click", function () {
      panel.hidden = !panel.hidden;
      launcher.setAttribute("aria-expanded", String(!panel.hidden));
      launcher.textContent = panel.hidden ? "Ask dealdesk" : "Close";
      if (!panel.hidden && !mounted) {
        window.DealdeskChat.mount(panel, { baseUrl: base, compact: true });
        mounted = true;
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
