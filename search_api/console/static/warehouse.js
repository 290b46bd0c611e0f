// The warehouse page: stock by SKU or product name, per-warehouse lists with low- and out-of-stock filters, and
// commands (receipt, adjustment, threshold). After a command the page reads with the write's position as
// min_position, so the figures it shows include the change.

import { ApiError, command, read } from "./api.js";
import { byId, clearErrors, el, loading, showError, table, when } from "./dom.js";
import { commandForm, integer } from "./forms.js";
import { staffPage } from "./session.js";

const SKU = /^[A-Za-z0-9._-]{1,64}$/;
const WAIT_MS = 10000; // how long a read after a command may wait for the read side to include it
let filters = {};
let openSku = null;

function filtersFromUrl() {
  const url = new URLSearchParams(location.search);
  return {
    q: url.get("q") || "",
    warehouse: url.get("warehouse") || "",
    low_stock: url.get("low_stock") === "true",
    out_of_stock: url.get("out_of_stock") === "true",
    sort: url.get("sort") || "sku",
  };
}

function keepUrl() {
  const url = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value && !(name === "sort" && value === "sku")) url.set(name, String(value));
  if (openSku) url.set("sku", openSku);
  history.replaceState(null, "", `${location.pathname}${url.size ? `?${url}` : ""}`);
}

function listParams(position) {
  return {
    ...filters,
    low_stock: filters.low_stock ? "true" : "",
    out_of_stock: filters.out_of_stock ? "true" : "",
    size: 50,
    min_position: position,
    wait_ms: position ? WAIT_MS : undefined,
  };
}

function stockRow(row) {
  return el(
    "tr",
    {},
    el("th", { scope: "row" }, el("button", { type: "button", class: "link", onclick: () => showSku(row.sku), text: row.sku })),
    el("td", { text: row.name || "" }),
    el("td", { text: row.warehouse }),
    ...["on_hand", "reserved", "available", "low_stock_threshold"].map((k) => el("td", { class: "num", text: String(row[k] ?? "") })),
    el("td", { text: row.available === 0 ? "out of stock" : row.low_stock ? "low" : "" }),
  );
}

function renderList(body, append) {
  const holder = byId("stock-list");
  let tbody = holder.querySelector("tbody");
  if (!append || !tbody) {
    const headers = ["SKU", "Product", "Warehouse", "On hand", "Reserved", "Available", "Threshold", "Alert"];
    holder.replaceChildren(table("Stock rows, one per SKU and warehouse", headers, []));
    tbody = holder.querySelector("tbody");
  }
  tbody.append(...body.items.map(stockRow));
  byId("stock-count").textContent = `${body.total} ${body.total === 1 ? "row" : "rows"} found; ${tbody.children.length} shown.`;
  byId("stock-more").hidden = !body.next_cursor;
  byId("stock-more").dataset.cursor = body.next_cursor || "";
}

async function list(position) {
  const form = byId("stock-search");
  await loading(
    async () => renderList((await read("/inventory", listParams(position))).body, false),
    (error) => showError(form, error),
  );
}

function figures(stock) {
  const rows = stock.warehouses.map((w) =>
    el(
      "tr",
      {},
      el("th", { scope: "row", text: w.warehouse }),
      ...["on_hand", "reserved", "available", "low_stock_threshold"].map((k) => el("td", { class: "num", text: String(w[k]) })),
      el("td", { text: w.available === 0 ? "out of stock" : w.low_stock ? "low" : "no" }),
      el("td", { text: when(w.updated_at) }),
    ),
  );
  const total = stock.total;
  return [
    el("p", { class: "totals", text: `In all warehouses: ${total.on_hand} on hand, ${total.reserved} reserved, ${total.available} available.` }),
    rows.length
      ? table(`Stock of ${stock.sku} per warehouse`, ["Warehouse", "On hand", "Reserved", "Available", "Low-stock threshold", "Low stock", "Changed"], rows)
      : el("p", { text: "No stock recorded yet." }),
  ];
}

// Shows a SKU's stock; after a command, `position` makes the read include it (and `note` says what was done).
async function showSku(sku, position, note) {
  openSku = sku;
  keepUrl();
  const panel = byId("sku-panel");
  panel.hidden = false;
  byId("sku-title").textContent = sku;
  await loading(
    async () => {
      const { body, stale } = await read(`/inventory/${encodeURIComponent(sku)}`, { min_position: position, wait_ms: position ? WAIT_MS : undefined });
      byId("sku-title").textContent = body.name ? `${sku} (${body.name})` : sku;
      byId("sku-figures").replaceChildren(...figures(body));
      byId("sku-warehouses").replaceChildren(...body.warehouses.map((w) => el("option", { value: w.warehouse })));
      byId("sku-status").textContent = stale
        ? "The read side has not caught up with your change yet: these figures may be older. Open the SKU again in a moment."
        : note || "";
    },
    (error) => {
      byId("sku-figures").replaceChildren();
      byId("sku-status").textContent =
        error instanceof ApiError && error.status === 404 ? `No stock recorded for ${sku} yet: record a receipt to add some.` : error.message;
    },
  );
  if (!position) panel.scrollIntoView({ block: "start" });
}

async function afterCommand(answer, what) {
  await Promise.all([showSku(openSku, answer.position, what), list(answer.position)]);
}

function commands(role) {
  const path = (tail) => `/inventory/${encodeURIComponent(openSku)}${tail}`;
  commandForm(
    byId("receipt-form"),
    (v, key) => command("POST", path("/receipts"), { warehouse: v.warehouse, quantity: integer(v.quantity), reference: v.reference || undefined }, key),
    async (answer, v) => {
      byId("receipt-form").elements.namedItem("quantity").value = "";
      await afterCommand(answer, `Receipt recorded: ${v.quantity} units into ${v.warehouse}.`);
    },
  );
  commandForm(
    byId("adjust-form"),
    (v, key) => command("POST", path("/adjustments"), { warehouse: v.warehouse, delta: integer(v.delta), reason: v.reason, note: v.note || undefined }, key),
    (answer, v) => afterCommand(answer, `Adjustment recorded: ${v.delta} units at ${v.warehouse} (${v.reason}).`),
  );
  commandForm(
    byId("threshold-form"),
    (v) => command("PUT", path(`/thresholds/${encodeURIComponent(v.warehouse)}`), { low_stock_threshold: integer(v.low_stock_threshold) }),
    (answer, v) => afterCommand(answer, `Low-stock threshold at ${v.warehouse} set to ${v.low_stock_threshold}.`),
  );
  const readOnly = role === "backoffice";
  byId("sku-readonly").hidden = !readOnly;
  for (const fieldset of byId("sku-panel").querySelectorAll("fieldset")) fieldset.disabled = readOnly;
}

function start(role) {
  filters = filtersFromUrl();
  const form = byId("stock-search");
  form.elements.namedItem("q").value = filters.q;
  form.elements.namedItem("warehouse").value = filters.warehouse;
  form.elements.namedItem("low_stock").checked = filters.low_stock;
  form.elements.namedItem("out_of_stock").checked = filters.out_of_stock;
  form.elements.namedItem("sort").value = filters.sort;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    filters = {
      q: f.namedItem("q").value.trim(),
      warehouse: f.namedItem("warehouse").value.trim(),
      low_stock: f.namedItem("low_stock").checked,
      out_of_stock: f.namedItem("out_of_stock").checked,
      sort: f.namedItem("sort").value,
    };
    keepUrl();
    await list();
    if (SKU.test(filters.q) && byId("stock-list").querySelector("tbody th")?.textContent === filters.q) await showSku(filters.q);
  });
  byId("stock-more").addEventListener("click", () =>
    loading(async () => renderList((await read("/inventory", { cursor: byId("stock-more").dataset.cursor })).body, true)),
  );
  commands(role);
  list();
  const sku = new URLSearchParams(location.search).get("sku");
  if (sku) showSku(sku);
}

staffPage(start);
