// The orders page (back-office): search by customer name (typos tolerated), e-mail, order id, SKU, status, dates
// and totals; the order's detail with cancel and ship; the current filter exported as CSV (every matching order).

import { download, read } from "./api.js";
import { byId, clearErrors, el, loading, money, showError, table, when } from "./dom.js";
import { attachOrderCommands, showOrder } from "./order_detail.js";
import { staffPage } from "./session.js";

const FIELDS = ["q", "email", "sku", "placed_from", "placed_to", "total_min", "total_max", "sort"];
const STATUSES = ["placed", "shipped", "cancelled"];
const WAIT_MS = 10000;
let filters = { status: [] };

function filtersFromUrl() {
  const url = new URLSearchParams(location.search);
  const f = { status: url.getAll("status") };
  for (const name of FIELDS) f[name] = url.get(name) || "";
  f.sort = f.sort || "newest";
  return f;
}

function filtersFromForm(form) {
  const f = { status: filters.status };
  for (const name of FIELDS) f[name] = form.elements.namedItem(name).value.trim();
  return f;
}

function keepUrl(orderId) {
  const url = new URLSearchParams();
  for (const name of FIELDS) if (filters[name] && !(name === "sort" && filters[name] === "newest")) url.set(name, filters[name]);
  for (const s of filters.status) url.append("status", s);
  if (orderId) url.set("order", orderId);
  history.replaceState(null, "", `${location.pathname}${url.size ? `?${url}` : ""}`);
}

// The API takes times; the form's dates are whole days (UTC).
function apiParams(f) {
  return {
    ...f,
    placed_from: f.placed_from ? `${f.placed_from}T00:00:00Z` : "",
    placed_to: f.placed_to ? `${f.placed_to}T23:59:59.999Z` : "",
  };
}

function statusFacet(facets) {
  const counts = Object.fromEntries(facets.status.map((b) => [b.value, b.count]));
  byId("status-facet")
    .querySelector(".options")
    .replaceChildren(
      ...STATUSES.map((s) =>
        el(
          "div",
          { class: "option" },
          el("input", {
            type: "checkbox",
            id: `status-${s}`,
            checked: filters.status.includes(s),
            onchange: (e) => {
              filters = { ...filters, status: e.target.checked ? [...filters.status, s] : filters.status.filter((v) => v !== s) };
              search();
            },
          }),
          el("label", { for: `status-${s}` }, s, el("span", { class: "count", text: ` (${counts[s] || 0})` })),
        ),
      ),
    );
}

function orderRow(order) {
  return el(
    "tr",
    {},
    el("th", { scope: "row" }, el("button", { type: "button", class: "link", onclick: () => open(order.order_id), text: order.order_id })),
    el("td", { text: order.status }),
    el("td", { text: order.customer.name }),
    el("td", { text: order.customer.email }),
    el("td", { class: "num", text: String(order.item_count ?? "") }),
    el("td", { class: "num", text: money(order.total) }),
    el("td", { text: when(order.placed_at) }),
  );
}

function renderList(body, append) {
  const holder = byId("order-list");
  let tbody = holder.querySelector("tbody");
  if (!append || !tbody) {
    holder.replaceChildren(table("Orders", ["Order", "Status", "Customer", "E-mail", "Items", "Total", "Placed"], []));
    tbody = holder.querySelector("tbody");
  }
  tbody.append(...body.items.map(orderRow));
  byId("order-count").textContent = `${body.total} ${body.total === 1 ? "order" : "orders"} found; ${tbody.children.length} shown.`;
  byId("order-more").hidden = !body.next_cursor;
  byId("order-more").dataset.cursor = body.next_cursor || "";
}

async function search(position) {
  keepUrl(new URLSearchParams(location.search).get("order"));
  const form = byId("order-search");
  clearErrors(form);
  await loading(
    async () => {
      const params = { ...apiParams(filters), size: 20, min_position: position, wait_ms: position ? WAIT_MS : undefined };
      const { body } = await read("/orders/search", params);
      statusFacet(body.facets);
      renderList(body, false);
    },
    (error) => showError(form, error),
  );
}

function open(orderId) {
  keepUrl(orderId);
  return showOrder(orderId);
}

async function exportCsv() {
  const form = byId("order-search");
  const line = byId("export-status");
  clearErrors(form);
  line.textContent = "Exporting…";
  try {
    const response = await download("/orders/export", apiParams(filters)); // the filter of the orders shown
    const blob = await response.blob();
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "orders.csv";
    const link = el("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    line.textContent = `Exported ${response.headers.get("X-Total-Count")} orders to ${name}.`;
  } catch (error) {
    line.textContent = "";
    showError(form, error);
  }
}

function start() {
  filters = filtersFromUrl();
  const form = byId("order-search");
  for (const name of FIELDS) form.elements.namedItem(name).value = filters[name];
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    filters = filtersFromForm(form);
    search();
  });
  byId("export").addEventListener("click", exportCsv);
  byId("order-more").addEventListener("click", () =>
    loading(async () => renderList((await read("/orders/search", { cursor: byId("order-more").dataset.cursor })).body, true)),
  );
  attachOrderCommands((position) => search(position));
  search();
  const orderId = new URLSearchParams(location.search).get("order");
  if (orderId) showOrder(orderId);
}

staffPage(start);
