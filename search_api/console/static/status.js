// The status page (any staff key): processes' health, projections' positions, lag and parked messages, polled
// every few seconds; the lag chart is drawn from the samples this page has taken (no history on the server).

import { read } from "./api.js";
import { byId, el, loading, table, when } from "./dom.js";
import { COLOURS, lineChart } from "./chart.js";
import { staffPage } from "./session.js";

const POLL_MS = 3000;
const KEEP_MS = 5 * 60 * 1000; // the chart shows the last five minutes
const STATES = { ready: "ready", not_ready: "not ready", down: "down" };
const samples = [];

function cell(value) {
  return el("td", { class: "num", text: value === null || value === undefined ? "unknown" : String(value) });
}

function processes(list) {
  return table(
    "Processes and their readiness",
    ["Process", "State", "Detail"],
    list.map((p) =>
      el(
        "tr",
        { class: `state-${p.state}` },
        el("th", { scope: "row", text: p.name.replace("_", " ") }),
        el("td", {}, el("span", { class: `badge state-${p.state}`, text: STATES[p.state] || p.state })),
        el("td", {
          text: [p.error, Object.entries(p.checks || {}).map(([k, ok]) => `${k} ${ok ? "answers" : "does not answer"}`).join(", ")]
            .filter(Boolean)
            .join("; "),
        }),
      ),
    ),
  );
}

function projections(rows) {
  return table(
    "Projections: positions, lag and parked messages",
    ["Projection", "Applied position", "Visible position", "Lag (events)", "Lag (seconds)", "Parked", "Last event"],
    rows.map((r) =>
      el(
        "tr",
        {},
        el("th", { scope: "row" }, el("span", { class: "swatch", style: `background:${COLOURS[r.projection]}` }), r.projection),
        cell(r.position),
        cell(r.visible_position),
        cell(r.lag_events),
        cell(r.lag_seconds),
        cell(r.parked),
        el("td", { text: r.last_event_at ? when(r.last_event_at) : "" }),
      ),
    ),
  );
}

function relayLine(relay) {
  if (relay.active === null) return "Relay: no figures (it does not answer).";
  return `Relay: ${relay.active ? "active" : "standing by"}, published up to position ${relay.position}, ${relay.lag_events} events waiting.`;
}

function sample(report) {
  const now = Date.now();
  const take = (field) => Object.fromEntries(report.projections.map((r) => [r.projection, r[field]]));
  samples.push({ at: now, events: take("lag_events"), seconds: take("lag_seconds") });
  while (samples.length && samples[0].at < now - KEEP_MS) samples.shift();
  const names = report.projections.map((r) => r.projection);
  lineChart(byId("chart-events"), "Lag in events", "events", samples.map((s) => ({ at: s.at, values: s.events })), names);
  lineChart(byId("chart-seconds"), "Lag in seconds", "seconds", samples.map((s) => ({ at: s.at, values: s.seconds })), names);
}

async function poll() {
  await loading(async () => {
    const { body } = await read("/status");
    byId("processes").replaceChildren(processes(body.processes));
    byId("projections").replaceChildren(projections(body.projections));
    byId("relay").textContent = relayLine(body.relay) + (body.positions_error ? ` Positions: ${body.positions_error}.` : "");
    byId("status-checked").textContent = `Checked at ${new Date(body.checked_at).toLocaleTimeString("en-GB")}.`;
    sample(body);
  });
  setTimeout(poll, POLL_MS);
}

staffPage(() => poll());
