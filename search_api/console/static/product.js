// A product page: details and availability per warehouse (public: no stock figures beyond what shoppers see).

import { ApiError, read } from "./api.js";
import { byId, el, loading, money, table } from "./dom.js";

function availability(product) {
  if (!product.warehouses.length) return el("p", { text: "Not stocked in any warehouse." });
  return table(
    "Availability per warehouse",
    ["Warehouse", "Available"],
    product.warehouses.map((w) => el("tr", {}, el("th", { scope: "row", text: w.warehouse }), el("td", { text: String(w.available) }))),
  );
}

function attributes(product) {
  const entries = Object.entries(product.attributes || {});
  if (!entries.length) return null;
  return el(
    "dl",
    { class: "attributes" },
    entries.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: String(value) })]),
  );
}

function render(product) {
  const article = byId("product");
  const parts = [
    el("h1", { id: "product-name", text: product.name }),
    el("p", { class: "meta" }, [product.brand, product.category, `SKU ${product.sku}`].filter(Boolean).join(" · ")),
    product.status === "discontinued" ? el("p", { class: "badge out-of-stock", text: "Discontinued" }) : null,
    el("p", { class: "price", text: money(product.price) }),
    el(
      "p",
      { class: "stock" },
      product.in_stock
        ? el("span", { class: "badge in-stock", text: "In stock" })
        : el("span", { class: "badge out-of-stock", text: "Out of stock" }),
      ` ${product.available} available`,
    ),
    product.description ? el("p", { class: "description", text: product.description }) : null,
    attributes(product),
    el("h2", { text: "Availability" }),
    availability(product),
  ];
  article.replaceChildren(...parts.filter(Boolean));
  article.removeAttribute("aria-busy");
  document.title = `${product.name} · Shop console`;
}

function start() {
  const sku = byId("product").dataset.sku;
  if (document.referrer.startsWith(`${location.origin}/?`) || document.referrer === `${location.origin}/`) {
    byId("back").href = document.referrer; // back to the search this page was opened from
    byId("back").textContent = "Back to the results";
  }
  loading(
    async () => render((await read(`/products/${encodeURIComponent(sku)}`)).body),
    (error) => {
      byId("product").removeAttribute("aria-busy");
      byId("product-message").textContent =
        error instanceof ApiError && (error.status === 404 || error.status === 422)
          ? `There is no product with SKU ${sku}.`
          : error.message;
    },
  );
}

start();
