// herald console: a little script over server-rendered pages. Every page works without it;
// with it, forms ask before destructive actions, the campaign form previews as you type,
// and live pages refresh their numbers. No framework, no build, nothing from the internet.
"use strict";

const body = document.body;
const csrf = body.dataset.csrf || "";
const refreshMs = Number(body.dataset.refreshMs || 2000);

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function text(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value;
}

function number(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en");
}

function percent(r) {
  return r === null || r === undefined ? "—" : (r * 100).toFixed(1) + "%";
}

async function postForm(url, data) {
  const answer = await fetch(url, {
    method: "POST",
    body: data,
    headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
    credentials: "same-origin",
  });
  if (answer.status === 401) {
    window.location.reload(); // the session ended: the page goes to the sign-in form
    return null;
  }
  return answer.json();
}

// --- confirmations ------------------------------------------------------------------------
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm) {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }
});

// --- the new campaign form: preview and estimate -------------------------------------------
const campaignForm = document.getElementById("campaign-form");
if (campaignForm) {
  const zone = document.getElementById("time_zone");
  if (zone && zone.value === "UTC" && window.Intl) {
    const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (local) zone.value = local;
  }
  let fileSummary = null; // the last reading of the chosen file

  const preview = debounce(async () => {
    const data = new FormData(campaignForm);
    data.delete("file");
    const shown = await postForm(campaignForm.dataset.preview, data);
    if (!shown) return;
    if (shown.error) {
      text("preview-error", shown.error.message);
      return;
    }
    text("preview-error", "");
    text("preview-text", shown.rendered);
    text("preview-encoding", shown.encoding === "gsm7" ? "GSM-7" : "UCS-2");
    text("preview-segments", String(shown.segments));
    text("preview-left", String(shown.chars_left));
    text(
      "preview-ucs2",
      shown.forced_ucs2_by.length
        ? "UCS-2 because of: " + shown.forced_ucs2_by.join(" ") + " (each part holds 70 characters, not 160)"
        : "",
    );
  }, 250);

  const estimate = debounce(async (withFile) => {
    const data = new FormData(campaignForm);
    const file = data.get("file");
    const hasFile = file instanceof File && file.size > 0;
    if (!withFile || !hasFile) data.delete("file");
    if (!hasFile) fileSummary = null;
    const out = await postForm(campaignForm.dataset.estimate, data);
    if (!out) return;
    if (out.error) {
      text("review-verdict", out.error.message);
      return;
    }
    if (withFile && hasFile) fileSummary = out.file;
    let recipients = out.recipients;
    if (!withFile && fileSummary && fileSummary.good) recipients += fileSummary.good;
    const needed = recipients * out.segments_per_message;
    text("credit-left", number(out.credit_left));
    text("review-recipients", "up to " + number(recipients));
    text("review-segments", String(out.segments_per_message));
    text("review-needed", "up to " + number(needed));
    const verdict = document.getElementById("review-verdict");
    verdict.className = needed > out.credit_left ? "field-error" : "ok-text";
    verdict.textContent =
      recipients === 0
        ? "No recipient yet."
        : needed > out.credit_left
          ? "Not enough credit: " + number(needed) + " needed, " + number(out.credit_left) + " left."
          : "Enough credit: " + number(out.credit_left - needed) + " would be left.";
    const fileBox = document.getElementById("review-file");
    fileBox.textContent = "";
    const summary = fileSummary;
    if (summary && summary.error) {
      fileBox.textContent = "File: " + summary.error;
      fileBox.className = "field-error";
    } else if (summary) {
      fileBox.className = "";
      const p = document.createElement("p");
      p.textContent = "File: " + number(summary.rows) + " rows, " + number(summary.good) + " good, " + number(summary.bad) + " bad" + (summary.labels.length ? "; labels " + summary.labels.join(", ") : "");
      fileBox.appendChild(p);
      if (summary.bad_rows.length) {
        const list = document.createElement("ul");
        list.className = "problems";
        for (const row of summary.bad_rows.slice(0, 20)) {
          const item = document.createElement("li");
          item.textContent = "row " + row.row + ": " + (row.detail || row.reason);
          list.appendChild(item);
        }
        fileBox.appendChild(list);
      }
    }
    if (out.numbers.invalid_count) {
      const p = document.createElement("p");
      p.className = "field-error";
      p.textContent = out.numbers.invalid_count + " invalid number(s): " + out.numbers.invalid.map((n) => n.phone + " (" + n.reason + ")").join(", ");
      fileBox.appendChild(p);
    }
  }, 400);

  const previewFields = ["message", "fallback", "sample_name", "sample_labels", "flash", "transcode"];
  const fileFields = ["file", "phone_column", "name_column", "label_columns", "sheet", "mobiles_only"];
  campaignForm.addEventListener("input", (event) => {
    const name = event.target.name;
    if (previewFields.includes(name)) preview();
    estimate(fileFields.includes(name));
  });
  campaignForm.addEventListener("change", (event) => {
    if (event.target.type === "file" || event.target.type === "checkbox" || event.target.tagName === "SELECT") {
      if (previewFields.includes(event.target.name)) preview();
      estimate(fileFields.includes(event.target.name));
    }
  });
  if (document.getElementById("message").value) preview();
  estimate(false);
}

// --- a campaign's live progress ------------------------------------------------------------
const progress = document.getElementById("progress");
if (progress && progress.dataset.live === "true") {
  const status = progress.dataset.status;
  const tick = async () => {
    let answer;
    try {
      answer = await fetch(progress.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    } catch (error) {
      setTimeout(tick, refreshMs * 2); // the server is away: try again, slower
      return;
    }
    if (answer.status === 401) {
      window.location.reload();
      return;
    }
    const now = await answer.json();
    for (const [name, value] of Object.entries(now.messages)) {
      const cell = progress.querySelector('[data-count="' + name + '"]');
      if (cell) cell.textContent = number(value);
    }
    progress.querySelector('[data-count="expected"]').textContent = number(now.expected);
    progress.querySelector('[data-count="delivery_rate"]').textContent = percent(now.delivery_rate);
    progress.querySelector('[data-count="clicks"]').textContent = number(now.clicks);
    document.getElementById("bar").innerHTML = now.bar; // markup drawn by herald.ui.charts
    for (const batch of now.batches) {
      const cell = document.querySelector('[data-batch-status="' + batch.id + '"]');
      if (cell) cell.textContent = batch.status;
    }
    if (now.status !== status) {
      // New state, new buttons and report: load the page again (keeping the scroll).
      window.location.reload();
      return;
    }
    setTimeout(tick, refreshMs);
  };
  setTimeout(tick, refreshMs);
}

// --- the operations page -------------------------------------------------------------------
const operations = document.getElementById("operations");
if (operations) {
  let last = null;
  const field = (path, value) => {
    const cell = operations.querySelector('[data-field="' + path + '"]');
    if (cell) cell.textContent = value;
  };
  const tick = async () => {
    let now;
    try {
      const answer = await fetch(operations.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (answer.status === 401) {
        window.location.reload();
        return;
      }
      now = await answer.json();
    } catch (error) {
      setTimeout(tick, refreshMs * 2);
      return;
    }
    for (const bind of now.binds) {
      const row = operations.querySelector('tr[data-bind="' + CSS.escape(bind.name) + '"]');
      if (!row) continue;
      const set = (name, value) => {
        const cell = row.querySelector('[data-field="' + name + '"]');
        if (cell) cell.textContent = value;
      };
      set("state", bind.state);
      set("rotation", bind.rotation);
      row.querySelector('[data-field="state"]').className = "bind bind-" + bind.state;
      for (const name of ["window_in_use", "rate_limit", "segments_sent", "throttle_events", "reconnects", "timeouts", "receipts"]) {
        set(name, number(bind[name]));
      }
      if (last) {
        const before = last.binds.find((b) => b.name === bind.name);
        const seconds = now.at - last.at;
        if (before && seconds > 0) set("sent_rate", number(Math.round((bind.segments_sent - before.segments_sent) / seconds)));
      }
    }
    for (const group of ["backlog", "dispatcher", "callbacks", "receipts"]) {
      for (const [name, value] of Object.entries(now[group])) {
        if (typeof value === "number") field(group + "." + name, number(value));
      }
    }
    field("database.unreachable_seconds", now.database.unreachable_seconds + " s");
    last = now;
    setTimeout(tick, refreshMs);
  };
  tick();
}
