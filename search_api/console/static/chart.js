// A small line chart in SVG: one line per series over the samples' time span, with a text summary for screen
// readers (the chart itself is a picture of the same figures).

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 420;
const HEIGHT = 140;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };
export const COLOURS = { products: "#1f6feb", inventory: "#bf5a00", orders: "#2e7d32" };

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// samples: [{at: ms, values: {series: number|null}}], oldest first.
export function lineChart(figure, title, unit, samples, series) {
  const values = samples.flatMap((s) => series.map((name) => s.values[name])).filter((v) => typeof v === "number");
  const top = Math.max(1, ...values);
  const first = samples[0]?.at ?? 0;
  const span = Math.max(1, (samples.at(-1)?.at ?? 0) - first);
  const x = (at) => PAD.left + ((at - first) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, class: "chart" });
  chart.append(
    svg("line", { x1: PAD.left, y1: y(0), x2: WIDTH - PAD.right, y2: y(0), class: "axis" }),
    svg("text", { x: PAD.left - 4, y: y(top) + 4, "text-anchor": "end", class: "tick" }, formatNumber(top)),
    svg("text", { x: PAD.left - 4, y: y(0) + 4, "text-anchor": "end", class: "tick" }, "0"),
    svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 4, "text-anchor": "end", class: "tick" }, "now"),
    svg("text", { x: PAD.left, y: HEIGHT - 4, class: "tick" }, samples.length ? `${Math.round(span / 1000)} s ago` : ""),
  );
  for (const name of series) {
    const points = samples.filter((s) => typeof s.values[name] === "number").map((s) => `${x(s.at).toFixed(1)},${y(s.values[name]).toFixed(1)}`);
    if (points.length) chart.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: COLOURS[name] || "#555", "stroke-width": 2 }));
  }
  const latest = samples.at(-1)?.values || {};
  const summary = series.map((name) => `${name} ${latest[name] ?? "unknown"}`).join(", ");
  const caption = document.createElement("figcaption");
  caption.textContent = `${title} (${unit}); now: ${summary}.`;
  figure.replaceChildren(chart, caption);
}

function formatNumber(v) {
  return v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}
