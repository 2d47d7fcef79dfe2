// Draws every chart of the page from the JSON spec the server embedded beside it.
(function () {
  "use strict";
  function draw() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("div.chart[data-spec]").forEach(function (el) {
      var source = document.getElementById(el.dataset.spec);
      if (!source) { return; }
      var spec = JSON.parse(source.textContent);
      Plotly.newPlot(el, spec.data, spec.layout, {displayModeBar: false, responsive: true})
        .then(function () { el.dataset.rendered = "1"; });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
