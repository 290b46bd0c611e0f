// One order on the orders page: its lines and allocations, the stock of its SKUs, and cancel / ship behind a
// confirmation. After a command it reads with the write's position, so the status and stock shown include it.

import { command, read } from "./api.js";
import { byId, el, loading, money, table, when } from "./dom.js";
import { commandForm } from "./forms.js";

const WAIT_MS = 10000;
let current = null; // the order shown

function allocations(line) {
  return (line.allocations || []).map((a) => `${a.warehouse} × ${a.quantity}`).join(", ");
}

function address(a) {
  if (!a) return "";
  return [a.name, a.line1, a.line2, `${a.postal_code} ${a.city}`, a.country].filter(Boolean).join(", ");
}

function facts(order) {
  const rows = [
    ["Status", order.status],
    ["Customer", `${order.customer.name} <${order.customer.email}> (${order.customer.id})`],
    ["Ship to", address(order.shipping_address)],
    ["Placed", when(order.placed_at)],
    ["Shipped", order.shipped_at ? `${when(order.shipped_at)} ${[order.carrier, order.tracking_number].filter(Boolean).join(" ")}` : ""],
    ["Cancelled", when(order.cancelled_at)],
    ["Total", money(order.total)],
  ].filter(([, value]) => value);
  return el("dl", { class: "facts" }, rows.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]));
}

function lines(order) {
  return table(
    "Lines and their allocations",
    ["SKU", "Product", "Quantity", "Unit price", "Allocated from"],
    order.lines.map((line) =>
      el(
        "tr",
        {},
        el("th", { scope: "row", text: line.sku }),
        el("td", { text: line.name || "" }),
        el("td", { class: "num", text: String(line.quantity) }),
        el("td", { class: "num", text: money(line.unit_price) }),
        el("td", { text: allocations(line) }),
      ),
    ),
  );
}

async function stock(order, position) {
  const skus = [...new Set(order.lines.map((l) => l.sku))];
  const answers = await Promise.all(
    skus.map((sku) => read(`/inventory/${encodeURIComponent(sku)}`, { min_position: position, wait_ms: position ? WAIT_MS : undefined })),
  );
  const rows = answers.flatMap(({ body }) =>
    body.warehouses.map((w) =>
      el(
        "tr",
        {},
        el("th", { scope: "row", text: `${body.sku} at ${w.warehouse}` }),
        ...["on_hand", "reserved", "available"].map((k) => el("td", { class: "num", text: String(w[k]) })),
      ),
    ),
  );
  return [table("Stock of the order's SKUs", ["SKU at warehouse", "On hand", "Reserved", "Available"], rows), answers.some((a) => a.stale)];
}

export async function showOrder(orderId, position, note) {
  const panel = byId("order-panel");
  panel.hidden = false;
  byId("order-title").textContent = orderId;
  await loading(
    async () => {
      const params = { min_position: position, wait_ms: position ? WAIT_MS : undefined };
      const { body: order, stale } = await read(`/orders/${encodeURIComponent(orderId)}`, params);
      const [stockTable, stockStale] = await stock(order, position);
      current = order;
      byId("order-detail").replaceChildren(facts(order), lines(order), stockTable);
      byId("cancel-open").hidden = order.status !== "placed";
      byId("ship-open").hidden = order.status !== "placed";
      byId("order-status-line").textContent =
        stale || stockStale ? "The read side has not caught up with your change yet: open the order again in a moment." : note || "";
    },
    (error) => {
      byId("order-detail").replaceChildren();
      byId("cancel-open").hidden = byId("ship-open").hidden = true;
      byId("order-status-line").textContent = error.message;
    },
  );
  if (!position) panel.scrollIntoView({ block: "start" });
}

function confirmation(opener, dialogId, send, note, onChanged) {
  const dialog = byId(dialogId);
  const form = dialog.querySelector("form");
  byId(opener).addEventListener("click", () => {
    form.reset();
    dialog.showModal();
  });
  dialog.querySelector(".close").addEventListener("click", () => dialog.close());
  commandForm(
    form,
    (values, key) => send(current.order_id, values, key),
    async (answer) => {
      dialog.close();
      await Promise.all([showOrder(answer.order_id, answer.position, note), onChanged(answer.position)]);
      byId("order-heading").focus?.();
    },
  );
}

// `onChanged(position)` refreshes what else the page shows after a command.
export function attachOrderCommands(onChanged) {
  const path = (id, verb) => `/orders/${encodeURIComponent(id)}/${verb}`;
  confirmation(
    "cancel-open",
    "cancel-dialog",
    (id, v, key) => command("POST", path(id, "cancel"), { reason: v.reason }, key),
    "Order cancelled; its reserved stock is released.",
    onChanged,
  );
  confirmation(
    "ship-open",
    "ship-dialog",
    (id, v, key) => command("POST", path(id, "ship"), { carrier: v.carrier || undefined, tracking_number: v.tracking_number || undefined }, key),
    "Order shipped; its reserved stock has left the warehouses.",
    onChanged,
  );
}
