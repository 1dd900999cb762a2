// onboardkit pages: live password hints and focus on the error summary.
// Everything works without this script; it only adds feedback while typing.
(function () {
  "use strict";

  function markRules(list, brokenCodes) {
    list.querySelectorAll("li[data-rule]").forEach(function (item) {
      var met = brokenCodes.indexOf(item.getAttribute("data-rule")) === -1;
      item.classList.toggle("met", met);
      item.classList.toggle("unmet", !met);
      var state = item.querySelector(".state");
      if (state) {
        state.textContent = " (" + state.getAttribute(met ? "data-met" : "data-unmet") + ")";
      }
    });
  }

  function value(form, name) {
    var field = form.querySelector('[name="' + name + '"]');
    return field && field.value ? field.value : undefined;
  }

  function watchPassword(input) {
    var rules = document.getElementById(input.getAttribute("aria-describedby").split(" ")[0]);
    if (!rules) { return; }
    var timer = null;
    var sequence = 0;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var mine = ++sequence;
        if (!input.value) {
          rules.querySelectorAll("li[data-rule]").forEach(function (item) {
            item.classList.remove("met", "unmet");
            var state = item.querySelector(".state");
            if (state) { state.textContent = ""; }
          });
          return;
        }
        var form = input.form;
        var body = {
          password: input.value,
          email: value(form, "email"),
          given_name: value(form, "given_name"),
          family_name: value(form, "family_name"),
          company: value(form, "company.name")
        };
        fetch(input.getAttribute("data-password-check"), {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "Accept-Language": document.documentElement.lang },
          body: JSON.stringify(body)
        }).then(function (response) {
          return response.ok ? response.json() : null;
        }).then(function (answer) {
          if (answer && mine === sequence) {
            markRules(rules, answer.issues.map(function (issue) { return issue.code; }));
          }
        }).catch(function () { /* hints stay as they are: the server checks on submit */ });
      }, 250);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-password-check]").forEach(watchPassword);
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  });
})();
