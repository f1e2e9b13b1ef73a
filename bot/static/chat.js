// The web chat client: sends what the driver types, presses or uploads, shows the replies.
// Every bot or user text goes through textContent, never innerHTML: anyone can type markup.
(function () {
  "use strict";

  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var fileInput = document.getElementById("file");
  var sendButton = document.getElementById("send");
  var cfg = form.dataset;
  var pendingSrc = cfg.src || ""; // a deep link from ?src= rides on the first message only
  var busy = false;

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context; plain http on a LAN address still has this.
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function bubble(who, text) {
    var div = document.createElement("div");
    div.className = "bubble " + who;
    div.textContent = text;
    log.appendChild(div);
    div.scrollIntoView({ block: "end" });
    return div;
  }

  function retireChoices() {
    log.querySelectorAll(".choices button").forEach(function (b) { b.disabled = true; });
  }

  function showReplies(replies) {
    retireChoices();
    replies.forEach(function (r) {
      bubble("bot", r.text);
      if (!r.choices || !r.choices.length) return;
      var row = document.createElement("div");
      row.className = "choices";
      r.choices.forEach(function (c) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "choice";
        b.textContent = c.label;
        b.addEventListener("click", function () { sendChoice(c, b); });
        row.appendChild(b);
      });
      log.appendChild(row);
      row.scrollIntoView({ block: "end" });
    });
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    fileInput.disabled = value;
    form.classList.toggle("busy", value);
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // One POST; a network failure is retried once with the same body, so the same client_id:
  // the server answers a retry of a message it already handled with the same replies.
  async function exchange(url, body, headers) {
    setBusy(true);
    try {
      for (var attempt = 0; attempt < 2; attempt++) {
        var res;
        try {
          res = await fetch(url, {
            method: "POST", body: body, headers: headers, credentials: "same-origin"
          });
        } catch (err) {
          if (attempt === 0) { await sleep(800); continue; }
          bubble("notice", cfg.errorNetwork);
          return false;
        }
        var data = null;
        try { data = await res.json(); } catch (err) { data = null; }
        if (res.ok && data && Array.isArray(data.replies)) {
          pendingSrc = "";
          showReplies(data.replies);
          return true;
        }
        bubble("notice", (data && data.message) || cfg.errorServer);
        return false;
      }
      return false;
    } finally {
      setBusy(false);
    }
  }

  function sendJson(fields) {
    fields.client_id = newId();
    if (pendingSrc) fields.src = pendingSrc;
    return exchange("/chat/api/message", JSON.stringify(fields),
      { "Content-Type": "application/json" });
  }

  async function sendText() {
    if (busy) return;
    var value = input.value;
    // Empty text still goes out: the bot answers it with a hint instead of silence.
    if (value.trim()) bubble("me", value);
    input.value = "";
    var ok = await sendJson({ text: value });
    if (!ok && !input.value) input.value = value; // nothing typed is lost
  }

  async function sendChoice(choice, button) {
    if (busy) return;
    bubble("me", choice.label);
    button.classList.add("chosen");
    if (!(await sendJson({ choice: choice.value }))) button.classList.remove("chosen");
  }

  async function sendFile(file) {
    if (file.size > Number(cfg.maxUpload)) {
      bubble("notice", cfg.tooLarge);
      return;
    }
    var mine = bubble("me", "[" + cfg.attach + "] " + file.name);
    if (file.type.indexOf("image/") === 0) {
      var img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = "";
      mine.appendChild(img);
    }
    var status = bubble("notice", cfg.uploading);
    var data = new FormData();
    data.append("client_id", newId());
    data.append("file", file, file.name);
    try {
      await exchange("/chat/api/upload", data, {});
    } finally {
      status.remove();
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sendText();
  });
  input.addEventListener("keydown", function (event) {
    // Enter sends, Shift+Enter breaks the line; never while an IME is composing Chinese.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText();
    }
  });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (file && !busy) sendFile(file);
  });
})();
