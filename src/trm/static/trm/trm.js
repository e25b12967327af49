/* Small progressive enhancements; every page works without them. */
(function () {
  "use strict";

  /* A form answer to move focus to: the control marked invalid, else the chosen
     radio button, else the first control. */
  function firstControl(root) {
    if (root.matches("input, select, textarea")) {
      return root;
    }
    var selectors = [
      "[aria-invalid='true']",
      "input:checked",
      "input:not([type='hidden']), select, textarea",
    ];
    for (var i = 0; i < selectors.length; i++) {
      var found = root.querySelector(selectors[i]);
      if (found) {
        return found;
      }
    }
    return null;
  }

  /* A link of the error summary moves focus to the answer in error, not only the
     view: the question (the row's legend) is scrolled into view above it. */
  function followErrorLink(event) {
    var link = event.target.closest ? event.target.closest("a[href^='#']") : null;
    if (!link) {
      return;
    }
    // getElementById, not querySelector: indicator ids contain dots.
    var target = document.getElementById(
      decodeURIComponent(link.getAttribute("href").slice(1))
    );
    var control = target ? firstControl(target) : null;
    if (!control) {
      return;
    }
    event.preventDefault();
    target.scrollIntoView();
    control.focus({ preventScroll: true });
  }

  /* A page re-shown with form errors: move keyboard and screen-reader focus to the
     error summary, so the person hears what went wrong and can follow its links to
     the answers in error. */
  function focusErrorSummary() {
    var summary = document.getElementById("form-errors");
    if (!summary) {
      return;
    }
    if (!summary.hasAttribute("tabindex")) {
      summary.setAttribute("tabindex", "-1");
    }
    summary.addEventListener("click", followErrorLink);
    summary.focus();
  }

  /* At most one keep-alive request per this interval; well below any idle limit
     (TRM_SESSION_IDLE_MINUTES is at least a few minutes on a real node). */
  var KEEP_ALIVE_MS = 2 * 60 * 1000;

  /* Keep the session of a person filling in a long form (a screening interview
     can outlast the idle limit). A form with data-keep-alive="<url>" POSTs to that
     URL while the person is answering: after an input or change in the form, at
     most once per KEEP_ALIVE_MS. A page left alone sends nothing, so the idle
     limit signs the session out as usual. Nothing from the form is sent, and
     nothing is kept in the browser. */
  function keepAlive(form) {
    var url = form.getAttribute("data-keep-alive");
    var token = form.querySelector("input[name='csrfmiddlewaretoken']");
    if (!url || !token || !window.fetch) {
      return;
    }
    var lastPing = Date.now(); // loading the page was a request
    var timer = null;
    var stopped = false;

    function ping() {
      timer = null;
      lastPing = Date.now();
      window
        .fetch(url, {
          method: "POST",
          headers: { "X-CSRFToken": token.value },
          credentials: "same-origin",
          cache: "no-store",
          // Signed out: do not follow the redirect to the sign-in page (it
          // would show, and use up, the "you were signed out" message).
          redirect: "manual",
        })
        .then(function (response) {
          if (response.status !== 204) {
            stopped = true; // signed out or refused: the next request says why
          }
        })
        .catch(function () {
          /* Offline for now: the next answer tries again. */
        });
    }

    function onActivity() {
      if (stopped || timer !== null) {
        return;
      }
      timer = window.setTimeout(
        ping,
        Math.max(0, lastPing + KEEP_ALIVE_MS - Date.now())
      );
    }

    form.addEventListener("input", onActivity);
    form.addEventListener("change", onActivity);
    form.addEventListener("submit", function () {
      stopped = true;
      if (timer !== null) {
        window.clearTimeout(timer);
        timer = null;
      }
    });
  }

  function init() {
    focusErrorSummary();
    var forms = document.querySelectorAll("form[data-keep-alive]");
    for (var i = 0; i < forms.length; i++) {
      keepAlive(forms[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
