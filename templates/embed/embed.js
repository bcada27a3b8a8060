/* digest: enhances an embedded sign-up form in place (no page change, errors beside the fields).
   Without this script the same form still works as a plain POST. No framework, no cookies. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me) return;
  var site = new URL(me.src).origin;

  function zone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  async function solve(proof) {  /* ALTCHA: the number whose SHA-256 with the salt is the challenge */
    var text = new TextEncoder();
    for (var n = 0; n <= proof.maxnumber; n++) {
      if (hex(await crypto.subtle.digest("SHA-256", text.encode(proof.salt + n))) === proof.challenge) {
        return btoa(JSON.stringify({algorithm: proof.algorithm, challenge: proof.challenge, number: n,
                                    salt: proof.salt, signature: proof.signature}));
      }
    }
    return "";
  }

  function wait(ms) { return new Promise(function (done) { setTimeout(done, Math.max(0, ms)); }); }

  function enhance(form) {
    if (form.getAttribute("data-digest-ready")) return;
    form.setAttribute("data-digest-ready", "yes");
    form.noValidate = true;  /* errors are shown beside the form, in the words the server chose */
    var status = form.querySelector("[data-digest-status]");
    var button = form.querySelector("button[type=submit], button:not([type])");
    var asked = Date.now();
    /* The snippet carries the script's own words in the list's language (DIGEST_LANGUAGE). */
    function words(name, english) { return form.getAttribute("data-digest-" + name) || english; }
    var issued = fetch(site + "/embed/token", {credentials: "omit"}).then(function (answer) {
      return answer.json().then(function (body) { return answer.ok ? body : Promise.reject(body); });
    });
    issued.catch(function () {});

    function say(message, isError) {
      if (!status) return;
      status.textContent = message;
      status.setAttribute("data-digest-error", isError ? "yes" : "no");
    }

    function mark(name) {
      form.querySelectorAll("[aria-invalid]").forEach(function (field) { field.removeAttribute("aria-invalid"); });
      var field = name && form.elements[name];
      if (field && field.setAttribute) {
        field.setAttribute("aria-invalid", "true");
        if (status && status.id) field.setAttribute("aria-describedby", status.id);
        field.focus();
      }
    }

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      mark("");
      if (button) button.disabled = true;
      say(words("sending", "Sending…"), false);
      var data = new FormData(form);
      try {
        var ticket = await issued;
        await wait(ticket.min_fill_ms - (Date.now() - asked));  /* a person is never taken for a bot */
        var body = {
          email: String(data.get("email") || ""), consent: data.get("consent") === "yes",
          topics: data.getAll("topics").map(String), form: String(data.get("form") || ""),
          website: String(data.get("website") || ""), timezone: zone(), page: location.href,
          token: ticket.token, altcha: ticket.altcha ? await solve(ticket.altcha) : ""
        };
        var answer = await fetch(site + "/embed/subscribe", {
          method: "POST", credentials: "omit", headers: {"Content-Type": "application/json"},
          body: JSON.stringify(body)
        });
        var result = await answer.json();
        if (answer.ok) {
          form.querySelectorAll("input, button, fieldset").forEach(function (field) { field.disabled = true; });
          form.setAttribute("data-digest-done", "yes");
          say(result.message, false);
          return;
        }
        say(result.error || words("failed", "The sign-up did not go through; please try again."), true);
        mark(result.field);
      } catch (problem) {
        say((problem && problem.error) || words("unreachable", "The sign-up could not be sent from this page: the site may not be allowed to use this form, or the service cannot be reached."), true);
      }
      if (button) button.disabled = false;
    });
  }

  document.querySelectorAll("form[data-digest-form]").forEach(enhance);
})();
