/* Small progressive enhancements; every page works without them. */
(function () {
  "use strict";

  /* A page re-shown with form errors: move keyboard and screen-reader focus to the
     error summary, so the person hears what went wrong and can tab to the field. */
  function focusErrorSummary() {
    var summary = document.getElementById("form-errors");
    if (!summary) {
      return;
    }
    if (!summary.hasAttribute("tabindex")) {
      summary.setAttribute("tabindex", "-1");
    }
    summary.focus();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusErrorSummary);
  } else {
    focusErrorSummary();
  }
})();
