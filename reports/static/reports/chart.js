// Draws a report's chart from the data the page carries (json_script): a static file, as the
// Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("report-chart-data");
    var canvas = document.getElementById("report-chart");
    if (!data || !canvas || typeof Chart === "undefined") return;
    var chart = JSON.parse(data.textContent);
    new Chart(canvas, {
      type: chart.type,
      data: { labels: chart.labels, datasets: chart.datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { title: { display: true, text: chart.title } },
      },
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
