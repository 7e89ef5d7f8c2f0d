/* Polls the progress JSON and updates the counts and the activity list in place. */
(() => {
  "use strict";
  const root = document.getElementById("study-progress");
  const fields = root.dataset.fields.split(" ");
  const updated = document.getElementById("progress-updated");
  const activity = document.getElementById("recent-activity");
  const row = (texts, span) => {
    const tr = document.createElement("tr");
    texts.forEach((text) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (span) td.colSpan = span;
      tr.appendChild(td);
    });
    return tr;
  };
  const show = (data) => {
    data.rows.forEach((counts) => fields.forEach((field) => {
      const cell = root.querySelector(`[data-count="${counts.key}.${field}"]`);
      if (cell) cell.textContent = counts[field];
    }));
    ["status", "waiting", "declines"].forEach((name) => {
      root.querySelector(`[data-value="${name}"]`).textContent = data[name];
    });
    const events = data.recent.map((e) => row([e.at_display, e.what, e.participant, e.group, e.condition]));
    activity.replaceChildren(...(events.length ? events : [row(["Nothing yet."], 5)]));
    updated.textContent = `Updated ${data.generated_display}.`;
  };
  const poll = () => {
    if (document.hidden) return;
    fetch(root.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then((response) => {
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return response.json();
      })
      .then(show)
      .catch(() => { updated.textContent = "Could not refresh; trying again shortly."; });
  };
  setInterval(poll, Number(root.dataset.pollMs));
})();
