/* dealdesk team chat: the page at / and the /widget.js panel share this code.
 *
 * Plain JavaScript, no build step, nothing fetched from the internet. Every message is
 * rendered as text: tables, lists and links are built as DOM nodes from the text, and no
 * model or user text is ever parsed as HTML.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "dealdesk.chat.token";
  var EMAIL_KEY = "dealdesk.chat.email";
  var CONVERSATION_KEY = "dealdesk.chat.conversation";
  var HISTORY_PAGE = 50; // messages loaded at a time, newest first ("Load earlier messages")

  // --- rendering text as DOM -----------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeHref(url) {
    if (/^https?:\/\/[^\s]+$/i.test(url)) return url;
    // A same-site path, never protocol-relative: browsers read "/\host" as "//host" too.
    if (/^\/(?![\/\\])[^\s\\]*$/.test(url)) return url;
    return null;
  }

  // [label](url), a bare http(s) URL, or **bold**.
  var INLINE = /\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])|\*\*([^*\n]+)\*\*/g;

  function appendInline(parent, text) {
    var last = 0;
    var match;
    INLINE.lastIndex = 0;
    while ((match = INLINE.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      if (match[4] !== undefined) {
        parent.appendChild(el("strong", null, match[4]));
      } else {
        var label = match[1] !== undefined ? match[1] : match[3];
        var href = safeHref(match[2] !== undefined ? match[2] : match[3]);
        if (href) {
          var link = el("a", "ddc-link", label);
          link.href = href;
          link.target = "_blank";
          link.rel = "noopener noreferrer";
          parent.appendChild(link);
        } else {
          parent.appendChild(document.createTextNode(match[0]));
        }
      }
      last = INLINE.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function isTableRow(line) {
    var trimmed = line.trim();
    return trimmed.charAt(0) === "|" && trimmed.length > 1 && trimmed.split("|").length >= 3;
  }

  function cells(line) {
    var trimmed = line.trim().replace(/^\|/, "").replace(/\|$/, "");
    return trimmed.split("|").map(function (cell) { return cell.trim(); });
  }

  function isSeparator(line) {
    return /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/.test(line);
  }

  function buildTable(rows) {
    var table = el("table", "ddc-table");
    var start = 0;
    if (rows.length > 1 && isSeparator(rows[1])) {
      var head = el("thead");
      var headRow = el("tr");
      cells(rows[0]).forEach(function (cell) {
        var th = el("th");
        appendInline(th, cell);
        headRow.appendChild(th);
      });
      head.appendChild(headRow);
      table.appendChild(head);
      start = 2;
    }
    var body = el("tbody");
    rows.slice(start).forEach(function (line) {
      if (isSeparator(line)) return;
      var tr = el("tr");
      cells(line).forEach(function (cell) {
        var td = el("td");
        if (/^[-+$\u20ac\u00a3(]?[\d,.]+%?\)?(\/mo)?$/.test(cell)) td.className = "ddc-num";
        appendInline(td, cell);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    var wrap = el("div", "ddc-table-wrap");
    wrap.appendChild(table);
    return wrap;
  }

  /** Text -> a fragment of paragraphs, bullet lists and tables (all built as nodes). */
  function renderRich(text) {
    var fragment = document.createDocumentFragment();
    var lines = String(text || "").replace(/\r\n?/g, "\n").split("\n");
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      if (isTableRow(line)) {
        var rows = [];
        while (i < lines.length && (isTableRow(lines[i]) || isSeparator(lines[i]))) rows.push(lines[i++]);
        fragment.appendChild(buildTable(rows));
        continue;
      }
      if (/^\s*(?:[\u2022*-]|\d+[.)])\s+/.test(line)) {
        var ordered = /^\s*\d+[.)]\s+/.test(line);
        var list = el(ordered ? "ol" : "ul", "ddc-list");
        while (i < lines.length && /^\s*(?:[\u2022*-]|\d+[.)])\s+/.test(lines[i])) {
          var item = el("li");
          appendInline(item, lines[i].replace(/^\s*(?:[\u2022*-]|\d+[.)])\s+/, ""));
          list.appendChild(item);
          i++;
        }
        fragment.appendChild(list);
        continue;
      }
      if (line.trim()) {
        var paragraph = el("p");
        var heading = /^\s*#{1,4}\s+(.*)$/.exec(line);
        if (heading) {
          paragraph.className = "ddc-heading";
          line = heading[1];
        }
        appendInline(paragraph, line);
        fragment.appendChild(paragraph);
      }
      i++;
    }
    return fragment;
  }

  // --- the API --------------------------------------------------------------------------

  function Api(baseUrl, onUnauthorised) {
    this.baseUrl = baseUrl || "";
    this.onUnauthorised = onUnauthorised;
  }

  Api.prototype.token = function () { return sessionStorage.getItem(TOKEN_KEY); };

  Api.prototype.headers = function (extra) {
    var headers = { Accept: "application/json" };
    var token = this.token();
    if (token) headers.Authorization = "Bearer " + token;
    for (var key in extra || {}) headers[key] = extra[key];
    return headers;
  };

  Api.prototype.fail = function (response) {
    if (response.status === 401 && this.onUnauthorised) this.onUnauthorised();
    return this.error(response);
  };

  /** Reject with the server's message (its ``detail``), or with the HTTP status (as ``status``). */
  Api.prototype.error = function (response) {
    function failure(message) {
      var error = new Error(message);
      error.status = response.status;
      return error;
    }
    return response.json().then(
      function (body) {
        var detail = body && body.detail;
        if (Array.isArray(detail)) detail = detail.map(function (d) { return d.msg; }).join("; ");
        throw failure(detail || "HTTP " + response.status);
      },
      function () { throw failure("HTTP " + response.status); }
    );
  };

  Api.prototype.json = function (method, path, body) {
    var self = this;
    var init = { method: method, headers: this.headers(body ? { "Content-Type": "application/json" } : {}) };
    if (body) init.body = JSON.stringify(body);
    return fetch(this.baseUrl + path, init).then(function (response) {
      if (!response.ok) return self.fail(response);
      return response.json();
    });
  };

  /**
   * GET a paged list: resolves { rows, total } (total from ``X-Total-Count``, or the rows'
   * number when the header is missing).
   */
  Api.prototype.page = function (path) {
    var self = this;
    return fetch(this.baseUrl + path, { method: "GET", headers: this.headers() }).then(function (response) {
      if (!response.ok) return self.fail(response);
      var header = response.headers.get("X-Total-Count");
      return response.json().then(function (rows) {
        var total = header === null ? NaN : parseInt(header, 10);
        return { rows: rows, total: isNaN(total) ? rows.length : total };
      });
    });
  };

  /** One page of a conversation's history, oldest first: the newest messages older than ``beforeId``. */
  Api.prototype.history = function (conversationId, beforeId) {
    var query = "?limit=" + HISTORY_PAGE + (beforeId ? "&before=" + encodeURIComponent(beforeId) : "");
    return this.page("/api/v1/chat/" + encodeURIComponent(conversationId) + "/messages" + query);
  };

  Api.prototype.login = function (email, password) {
    var self = this;
    var form = new URLSearchParams();
    form.set("username", email);
    form.set("password", password);
    return fetch(this.baseUrl + "/api/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: form.toString()
    }).then(function (response) {
      // A refused sign-in (401 wrong password, 429 locked out) is not an expired session.
      if (!response.ok) return self.error(response);
      return response.json();
    });
  };

  /**
   * Sign out on the server: this token stops working at once, wherever a copy of it is.
   * Resolves true when the server ended it (or it had already ended: 401), false when the
   * server could not be told; never rejects, so the caller can forget the token either way.
   */
  Api.prototype.logout = function () {
    if (!this.token()) return Promise.resolve(true);
    return fetch(this.baseUrl + "/api/v1/auth/logout", { method: "POST", headers: this.headers() }).then(
      function (response) { return response.ok || response.status === 401; },
      function () { return false; }
    );
  };

  /** POST a question and call onEvent(name, data) for each server-sent event. */
  Api.prototype.ask = function (conversationId, text, onEvent) {
    var self = this;
    return fetch(this.baseUrl + "/api/v1/chat/" + encodeURIComponent(conversationId) + "/messages", {
      method: "POST",
      headers: this.headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ text: text })
    }).then(function (response) {
      if (!response.ok) return self.fail(response);
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function dispatch(block) {
        var name = "message";
        var data = [];
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) name = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (!data.length) return; // a keep-alive comment
        var payload;
        try { payload = JSON.parse(data.join("\n")); } catch (e) { payload = data.join("\n"); }
        onEvent(name, payload);
      }
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            if (buffer.trim()) dispatch(buffer);
            return;
          }
          buffer += decoder.decode(chunk.value, { stream: true });
          var index;
          while ((index = buffer.indexOf("\n\n")) >= 0) {
            dispatch(buffer.slice(0, index));
            buffer = buffer.slice(index + 2);
          }
          return pump();
        });
      }
      return pump();
    });
  };

  // --- the chat UI ----------------------------------------------------------------------

  function formatTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    return date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  var mounted = 0; // gives each mounted chat its own element ids

  function mount(root, options) {
    options = options || {};
    mounted += 1;
    // ``session`` counts sign-outs: work a signed-out session started shows nothing afterwards.
    var state = { conversationId: sessionStorage.getItem(CONVERSATION_KEY), busy: false, session: 0 };
    var api = new Api(options.baseUrl, function () { signOut("Your session has expired: please sign in again.", true); });
    // The question an expired session could not send: { email, text }. Kept in memory only, off
    // the page, and given back only to the same account signing in again on this tab.
    var parked = null;

    root.textContent = "";
    var app = el("div", "ddc" + (options.compact ? " ddc--compact" : ""));
    root.appendChild(app);

    // sign-in
    var login = el("form", "ddc-login");
    login.setAttribute("aria-label", "Sign in");
    login.appendChild(el("h2", "ddc-login-title", "Sign in to dealdesk"));
    login.appendChild(el("p", "ddc-muted", "Ask about deals, budgets, P&L and properties."));
    var emailLabel = el("label", null, "Email");
    var emailInput = el("input");
    emailInput.type = "email";
    emailInput.name = "email";
    emailInput.required = true;
    emailInput.autocomplete = "username";
    emailLabel.appendChild(emailInput);
    var passwordLabel = el("label", null, "Password");
    var passwordInput = el("input");
    passwordInput.type = "password";
    passwordInput.name = "password";
    passwordInput.required = true;
    passwordInput.autocomplete = "current-password";
    passwordLabel.appendChild(passwordInput);
    var loginButton = el("button", "ddc-button", "Sign in");
    loginButton.type = "submit";
    var loginError = el("p", "ddc-error");
    loginError.setAttribute("role", "alert");
    [emailLabel, passwordLabel, loginButton, loginError].forEach(function (n) { login.appendChild(n); });

    // the chat
    var chat = el("div", "ddc-chat");
    var side = el("aside", "ddc-side");
    var newButton = el("button", "ddc-button ddc-new", "+ New conversation");
    newButton.type = "button";
    side.id = "ddc-side-" + mounted;
    side.setAttribute("aria-label", "Conversations");
    var list = el("ul", "ddc-conversations");
    list.setAttribute("aria-label", "Conversations");
    side.appendChild(newButton);
    side.appendChild(list);

    var main = el("section", "ddc-main");
    var header = el("header", "ddc-header");
    var title = el("h1", "ddc-title", "dealdesk");
    var who = el("span", "ddc-who");
    // Where the side list has no room (a phone, the widget) it opens over the chat instead.
    var historyButton = el("button", "ddc-link-button ddc-history-toggle", "History");
    historyButton.type = "button";
    historyButton.setAttribute("aria-controls", side.id);
    historyButton.setAttribute("aria-expanded", "false");
    var newCompact = el("button", "ddc-link-button ddc-new-compact", "New");
    newCompact.type = "button";
    var signOutButton = el("button", "ddc-link-button", "Sign out");
    signOutButton.type = "button";
    header.appendChild(title);
    header.appendChild(who);
    header.appendChild(historyButton);
    header.appendChild(newCompact);
    header.appendChild(signOutButton);

    var log = el("div", "ddc-log");
    log.id = "ddc-log-" + mounted;
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", "Messages");
    // Says (to a screen reader) how many earlier messages a click on "Load earlier" added.
    var historyStatus = el("p", "ddc-visually-hidden");
    historyStatus.setAttribute("role", "status");

    var form = el("form", "ddc-ask");
    var input = el("textarea", "ddc-input");
    input.name = "question";
    input.rows = 2;
    input.placeholder = "Ask about a deal, a budget, a P&L or an address\u2026";
    input.setAttribute("aria-label", "Your question");
    var send = el("button", "ddc-button ddc-send", "Send");
    send.type = "submit";
    form.appendChild(input);
    form.appendChild(send);

    main.appendChild(header);
    main.appendChild(log);
    main.appendChild(historyStatus);
    main.appendChild(form);
    chat.appendChild(side);
    chat.appendChild(main);
    app.appendChild(login);
    app.appendChild(chat);

    function show(signedIn) {
      login.hidden = signedIn;
      chat.hidden = !signedIn;
      if (signedIn) {
        who.textContent = sessionStorage.getItem(EMAIL_KEY) || "";
        input.focus();
      } else {
        emailInput.focus();
      }
    }

    function showHistory(open) {
      chat.classList.toggle("ddc--history-open", open);
      historyButton.setAttribute("aria-expanded", String(open));
      if (open) {
        var current = list.querySelector(".ddc-conversation.is-active") || list.querySelector(".ddc-conversation");
        (current || newButton).focus();
      }
    }

    // Every way out (the button, an expired or revoked token, a refused role) leaves nothing
    // of this session for the next person to sign in here: no log, no draft, no list. An
    // ``expired`` session parks its draft for its own account (see ``parked``).
    function signOut(message, expired) {
      var draft = input.value.trim() ? input.value : "";
      parked = expired && draft ? { email: sessionStorage.getItem(EMAIL_KEY) || "", text: draft } : null;
      sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.removeItem(EMAIL_KEY);
      sessionStorage.removeItem(CONVERSATION_KEY);
      state.conversationId = null;
      state.session += 1; // a question or page still on its way is not shown
      paging.generation += 1; // an earlier page still on its way is not shown
      log.textContent = "";
      list.textContent = "";
      input.value = "";
      who.textContent = "";
      loginError.textContent = message || "";
      show(false);
    }

    function scrollDown() { log.scrollTop = log.scrollHeight; }

    function notice(text, className) {
      var node = el("div", "ddc-notice " + (className || ""), text);
      if (!api.token()) return node; // signed out: the log stays empty for the next person
      log.appendChild(node);
      scrollDown();
      return node;
    }

    function renderToolCalls(calls) {
      var details = el("details", "ddc-tools");
      details.appendChild(el("summary", null, "Sources: " + calls.map(function (c) { return c.name; }).join(", ")));
      var table = el("table", "ddc-table ddc-table--tools");
      var body = el("tbody");
      calls.forEach(function (call) {
        var tr = el("tr");
        tr.appendChild(el("td", "ddc-tool-name", (call.ok ? "\u2713 " : "\u2717 ") + call.name));
        var td = el("td");
        appendInline(td, call.summary || "");
        tr.appendChild(td);
        body.appendChild(tr);
      });
      table.appendChild(body);
      details.appendChild(table);
      return details;
    }

    function messageNode(message) {
      var node = el("div", "ddc-message ddc-message--" + message.role + (message.error ? " ddc-message--error" : ""));
      node.setAttribute("data-role", message.role);
      if (message.id) node.setAttribute("data-id", message.id);
      var bubble = el("div", "ddc-bubble");
      if (message.role === "user") bubble.appendChild(el("p", null, message.content));
      else bubble.appendChild(renderRich(message.content));
      if (message.tool_calls && message.tool_calls.length) bubble.appendChild(renderToolCalls(message.tool_calls));
      node.appendChild(bubble);
      if (message.created_at) node.appendChild(el("div", "ddc-time", formatTime(message.created_at)));
      return node;
    }

    function addMessage(message) {
      log.appendChild(messageNode(message));
      scrollDown();
    }

    // "Load earlier messages": the top of the log while older messages are left on the server.
    var earlier = el("div", "ddc-earlier");
    var earlierButton = el("button", "ddc-link-button ddc-earlier-button", "Load earlier messages");
    earlierButton.type = "button";
    earlierButton.setAttribute("aria-controls", log.id);
    earlier.appendChild(earlierButton);
    var paging = { generation: 0, oldestId: null, loading: false };

    /** Show the control when older messages are left (``left`` of them), else take it away. */
    function showEarlier(left) {
      if (left > 0) {
        earlierButton.setAttribute("aria-label", "Load earlier messages (" + left + " more)");
        if (log.firstChild !== earlier) log.insertBefore(earlier, log.firstChild);
      } else if (earlier.parentNode) {
        earlier.remove();
      }
    }

    /** The control at rest: nothing loading. */
    function idleEarlier() {
      paging.loading = false;
      earlierButton.removeAttribute("aria-disabled");
      earlierButton.removeAttribute("aria-busy");
      earlierButton.textContent = "Load earlier messages";
    }

    /** Start a conversation's log from its latest page ({ rows, total }). */
    function showHistoryPage(page) {
      paging.generation += 1;
      paging.oldestId = page.rows.length ? page.rows[0].id : null;
      idleEarlier();
      log.removeAttribute("tabindex");
      log.textContent = "";
      page.rows.forEach(function (message) { log.appendChild(messageNode(message)); });
      showEarlier(page.total - page.rows.length);
      scrollDown();
    }

    /** Put the page before the oldest message shown above it, keeping what is on screen in place. */
    function loadEarlier() {
      if (paging.loading || !paging.oldestId || !state.conversationId) return;
      var generation = paging.generation;
      var hadFocus = document.activeElement === earlierButton;
      paging.loading = true;
      // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
      earlierButton.setAttribute("aria-disabled", "true");
      earlierButton.setAttribute("aria-busy", "true");
      earlierButton.textContent = "Loading earlier messages\u2026";
      api.history(state.conversationId, paging.oldestId).then(
        function (page) {
          if (generation !== paging.generation) return; // another conversation opened meanwhile
          idleEarlier();
          var fromBottom = log.scrollHeight - log.scrollTop;
          log.setAttribute("aria-busy", "true"); // old messages are not news to announce
          var fragment = document.createDocumentFragment();
          page.rows.forEach(function (message) { fragment.appendChild(messageNode(message)); });
          log.insertBefore(fragment, earlier.parentNode === log ? earlier.nextSibling : log.firstChild);
          if (page.rows.length) paging.oldestId = page.rows[0].id;
          showEarlier(page.rows.length ? page.total - page.rows.length : 0);
          log.scrollTop = log.scrollHeight - fromBottom;
          log.removeAttribute("aria-busy");
          historyStatus.textContent = page.rows.length === 1
            ? "Loaded 1 earlier message" : "Loaded " + page.rows.length + " earlier messages";
          if (hadFocus && earlier.parentNode) {
            earlierButton.focus({ preventScroll: true });
          } else if (hadFocus) {
            // The control went away under the keyboard: keep it in the log, at its top.
            log.setAttribute("tabindex", "-1");
            log.focus({ preventScroll: true });
          }
        },
        function (error) {
          if (generation !== paging.generation) return;
          idleEarlier();
          historyStatus.textContent = "";
          notice(error.message, "ddc-notice--error");
        }
      );
    }
    earlierButton.addEventListener("click", loadEarlier);

    function empty() {
      paging.generation += 1;
      paging.oldestId = null;
      idleEarlier();
      log.textContent = "";
      var hello = el("div", "ddc-empty");
      hello.appendChild(el("p", "ddc-empty-title", "Ask dealdesk"));
      hello.appendChild(renderRich(
        "\u2022 P&L for deal <id>\n\u2022 budget for deal <id>\n\u2022 cash flow for deal <id>\n\u2022 comps for 123 Main St, Detroit, MI\n\u2022 help"
      ));
      log.appendChild(hello);
    }

    function loadConversations() {
      return api.json("GET", "/api/v1/chat/conversations").then(function (rows) {
        list.textContent = "";
        rows.forEach(function (row) {
          var item = el("li");
          var button = el("button", "ddc-conversation" + (row.id === state.conversationId ? " is-active" : ""));
          button.type = "button";
          if (row.id === state.conversationId) button.setAttribute("aria-current", "true");
          button.appendChild(el("span", "ddc-conversation-title", row.title));
          button.appendChild(el("span", "ddc-conversation-time", formatTime(row.updated_at)));
          button.addEventListener("click", function () {
            open(row.id);
            input.focus(); // the list may close under the button (phone, widget)
          });
          item.appendChild(button);
          list.appendChild(item);
        });
        if (!rows.length) list.appendChild(el("li", "ddc-muted ddc-none", "No conversations yet"));
        return rows;
      });
    }

    function open(conversationId) {
      showHistory(false);
      state.conversationId = conversationId;
      sessionStorage.setItem(CONVERSATION_KEY, conversationId);
      Array.prototype.forEach.call(list.querySelectorAll(".ddc-conversation"), function (b) {
        b.classList.remove("is-active");
        b.removeAttribute("aria-current");
      });
      return api.history(conversationId, null).then(
        function (page) {
          if (!page.rows.length && !page.total) empty();
          else showHistoryPage(page);
          loadConversations();
        },
        function (error) {
          state.conversationId = null;
          sessionStorage.removeItem(CONVERSATION_KEY);
          empty();
          notice(error.message, "ddc-notice--error");
        }
      );
    }

    function startNew() {
      showHistory(false);
      state.conversationId = null;
      sessionStorage.removeItem(CONVERSATION_KEY);
      Array.prototype.forEach.call(list.querySelectorAll(".ddc-conversation"), function (b) {
        b.classList.remove("is-active");
        b.removeAttribute("aria-current");
      });
      empty();
      input.focus();
    }

    function ensureConversation() {
      if (state.conversationId) return Promise.resolve(state.conversationId);
      return api.json("POST", "/api/v1/chat/conversations", {}).then(function (row) {
        state.conversationId = row.id;
        sessionStorage.setItem(CONVERSATION_KEY, row.id);
        return row.id;
      });
    }

    function ask(text) {
      var session = state.session;
      var email = sessionStorage.getItem(EMAIL_KEY) || "";
      state.busy = true;
      send.disabled = true;
      input.value = "";
      var empties = log.querySelector(".ddc-empty");
      if (empties) empties.remove();
      var pending = null;
      var progress = null;
      var answered = false;
      var stored = false; // the server has the question (its "message" event came)
      return ensureConversation()
        .then(function (conversationId) {
          return api.ask(conversationId, text, function (name, data) {
            if (name === "message") {
              stored = true;
              addMessage(data);
              pending = el("div", "ddc-message ddc-message--assistant ddc-pending");
              var bubble = el("div", "ddc-bubble");
              progress = el("p", "ddc-progress", "Thinking\u2026");
              bubble.appendChild(progress);
              pending.appendChild(bubble);
              log.appendChild(pending);
              scrollDown();
            } else if (name === "progress" && progress) {
              progress.textContent = data.text;
              scrollDown();
            } else if (name === "reply") {
              answered = true;
              if (pending) pending.remove();
              addMessage(data);
            } else if (name === "error") {
              answered = true;
              if (pending) pending.remove();
              notice(data.detail || "Something went wrong.", "ddc-notice--error");
            }
          });
        })
        .then(function () {
          if (!answered) {
            if (pending) pending.remove();
            notice("The answer did not arrive; reload to see whether it was stored.", "ddc-notice--error");
          }
          return loadConversations();
        })
        .catch(function (error) {
          if (pending) pending.remove();
          if (session !== state.session) {
            // Signed out meanwhile (expired): show nothing; a question the server never got
            // waits for this account to sign in again.
            if (!stored && !parked) parked = { email: email, text: text };
            return;
          }
          // A question the server never got goes back in the box, so nothing typed is lost.
          if (!stored && !input.value) input.value = text;
          var message = error.message;
          if (error instanceof TypeError) { // fetch's network failure
            message = stored
              ? "The connection dropped before the answer came; reload to see whether it was stored."
              : "Could not reach dealdesk: check your connection and send again.";
          }
          notice(message, "ddc-notice--error");
        })
        .then(function () {
          state.busy = false;
          send.disabled = false;
          input.focus();
        });
    }

    login.addEventListener("submit", function (event) {
      event.preventDefault();
      loginError.textContent = "";
      loginButton.disabled = true;
      var email = emailInput.value.trim();
      api.login(email, passwordInput.value).then(
        function (body) {
          sessionStorage.setItem(TOKEN_KEY, body.access_token);
          sessionStorage.setItem(EMAIL_KEY, email);
          if (parked && parked.email.toLowerCase() !== email.toLowerCase()) parked = null;
          passwordInput.value = "";
          loginButton.disabled = false;
          start(true);
        },
        function (error) {
          loginButton.disabled = false;
          loginError.textContent = error.message;
        }
      );
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text || state.busy) return;
      ask(text);
    });
    input.addEventListener("keydown", function (event) {
      // Enter that confirms an input method's composition (Japanese, Chinese...) is not a send.
      if (event.isComposing || event.keyCode === 229) return;
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        if (typeof form.requestSubmit === "function") form.requestSubmit();
        else form.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
    newButton.addEventListener("click", startNew);
    historyButton.addEventListener("click", function () {
      showHistory(historyButton.getAttribute("aria-expanded") !== "true");
    });
    // A tap on the chat beside the open list closes it (the list covers the History button).
    main.addEventListener("click", function (event) {
      if (event.target !== historyButton && chat.classList.contains("ddc--history-open")) showHistory(false);
    });
    side.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && historyButton.getAttribute("aria-expanded") === "true") {
        event.stopPropagation();
        showHistory(false);
        historyButton.focus();
      }
    });
    newCompact.addEventListener("click", startNew);
    signOutButton.addEventListener("click", function () {
      // End the token on the server first, then forget it here (even if the server is away).
      signOutButton.disabled = true;
      api.logout().then(function (ended) {
        signOutButton.disabled = false;
        signOut(ended ? "" : "Signed out here, but the server could not be reached: "
          + "the session ends when it expires.");
      });
    });

    /** A signed-in account whose role may not chat (a contractor): end its session, say why. */
    function refuse(error) {
      api.logout().then(function () {
        signOut("This account cannot use the chat: " + error.message + ".");
      });
    }

    // Signing in (``checkFirst``), the chat shows only once the server has let this account
    // list its conversations, so an account that may not chat is refused at sign-in instead
    // of meeting a chat that fails.
    function start(checkFirst) {
      var session = state.session;
      if (!checkFirst) show(true);
      loadConversations().then(function () {
        if (session !== state.session) return;
        if (parked) input.value = parked.text; // the same account, back after its session expired
        parked = null;
        show(true);
        if (state.conversationId) open(state.conversationId);
        else empty();
      }, function (error) {
        if (session !== state.session) return;
        if (error.status === 403) return refuse(error);
        show(true);
        if (api.token()) notice(error.message, "ddc-notice--error");
      });
    }

    if (api.token()) start();
    else show(false);

    /** Put the keyboard where the user starts: the question box, or the email to sign in. */
    function focus() {
      if (chat.hidden) emailInput.focus();
      else input.focus();
    }

    return { ask: ask, signOut: signOut, focus: focus };
  }

  window.DealdeskChat = { mount: mount, renderRich: renderRich };

  // The chat page: mount on its container (the widget mounts into its own panel instead).
  var pageRoot = document.getElementById("dealdesk-chat");
  if (pageRoot && !pageRoot.hasChildNodes()) mount(pageRoot, { baseUrl: "" });
})();
