// Trial page helpers (the page works without them):
// - choosing a label for one heatmap gives the other heatmap the other label;
// - the response time, from display to submit, is sent as client_ms.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form) { return; }
  var shownAt = performance.now();
  var other = { left: "right", right: "left" };
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input.name in other)) { return; }
    var otherValue = input.value === "1" ? "2" : "1";
    var partner = form.querySelector('input[name="' + other[input.name] + '"][value="' + otherValue + '"]');
    if (partner) { partner.checked = true; }
  });
  form.addEventListener("submit", function () {
    form.elements.client_ms.value = String(Math.round(performance.now() - shownAt));
  });
})();
