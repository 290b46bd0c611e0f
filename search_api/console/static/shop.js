// The shop: search as you type, facets, filters, sorting, more results by cursor; the URL keeps the search.

import { read } from "./api.js";
import { byId, el, highlighted, loading, money } from "./dom.js";
import { attachSuggestions } from "./suggest.js";

const LIST_PARAMS = ["brand", "category"];
const SINGLE_PARAMS = ["q", "price_min", "price_max", "in_stock", "warehouse", "sort"];
const PAGE_SIZE = 20;
let state = fromUrl();
let latest = 0; // number of the newest search: an older answer that arrives late is dropped

function fromUrl() {
  const url = new URLSearchParams(location.search);
  const s = {};
  for (const name of LIST_PARAMS) s[name] = url.getAll(name);
  for (const name of SINGLE_PARAMS) s[name] = url.get(name) || "";
  s.sort = s.sort || "relevance";
  return s;
}

function toUrl(s) {
  const url = new URLSearchParams();
  for (const name of SINGLE_PARAMS) if (s[name] && !(name === "sort" && s[name] === "relevance")) url.set(name, s[name]);
  for (const name of LIST_PARAMS) for (const v of s[name]) url.append(name, v);
  const qs = url.toString();
  return qs ? `/?${qs}` : "/";
}

function apiParams(s) {
  const params = { size: PAGE_SIZE, sort: s.sort, brand: s.brand, category: s.category };
  for (const name of ["q", "price_min", "price_max", "warehouse"]) params[name] = s[name];
  if (s.in_stock) params.in_stock = "true";
  return params;
}

function resultCard(item) {
  const name = item.highlight?.name?.[0];
  const snippet = item.highlight?.description?.[0];
  return el(
    "li",
    {},
    el(
      "article",
      { class: "card", "aria-labelledby": `result-${item.sku}` },
      el("h3", { id: `result-${item.sku}` }, el("a", { href: `/shop/${encodeURIComponent(item.sku)}` }, name ? highlighted(name) : item.name)),
      el("p", { class: "meta" }, [item.brand, item.category].filter(Boolean).join(" · ")),
      el("p", { class: "price", text: money(item.price) }),
      el(
        "p",
        { class: "stock" },
        item.in_stock
          ? el("span", { class: "badge in-stock", text: "In stock" })
          : el("span", { class: "badge out-of-stock", text: "Out of stock" }),
        ` ${item.available} available`,
      ),
      snippet ? el("p", { class: "snippet" }, highlighted(snippet)) : null,
    ),
  );
}

function priceLabel(bucket) {
  if (bucket.from == null) return `Under $${bucket.to}`;
  if (bucket.to == null) return `$${bucket.from} and more`;
  return `$${bucket.from} to $${bucket.to}`;
}

// Ticked price ranges filter on the span from the lowest ticked to the highest (the API takes one range): a range
// lying between two ticked ones is ticked too, so the boxes always show the filter that applies.
function priceTicked(bucket) {
  const low = state.price_min === "" ? null : Number(state.price_min);
  const high = state.price_max === "" ? null : Number(state.price_max);
  if (low === null && high === null) return false;
  const fromOk = low === null || (bucket.from != null && bucket.from >= low);
  const toOk = high === null || (bucket.to != null && bucket.to <= high);
  return fromOk && toOk;
}

function facetOption(group, index, label, count, checked, onChange) {
  const id = `facet-${group}-${index}`;
  return el(
    "div",
    { class: "option" },
    el("input", { type: "checkbox", id, checked, onchange: onChange }),
    el("label", { for: id }, label, el("span", { class: "count", text: ` (${count})` })),
  );
}

function toggle(list, value) {
  return list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
}

function renderFacets(facets) {
  for (const group of LIST_PARAMS) {
    const options = byId(`facet-${group}`).querySelector(".options");
    options.replaceChildren(
      ...facets[group].map((f, i) =>
        facetOption(group, i, f.value, f.count, state[group].includes(f.value), () =>
          search({ ...state, [group]: toggle(state[group], f.value) }),
        ),
      ),
    );
  }
  const prices = facets.price.filter((b) => b.count > 0 || priceTicked(b));
  byId("facet-price")
    .querySelector(".options")
    .replaceChildren(
      ...prices.map((b, i) =>
        facetOption("price", i, priceLabel(b), b.count, priceTicked(b), (event) => {
          const ticked = prices.filter((p) => (p === b ? event.target.checked : priceTicked(p)));
          const lows = ticked.map((p) => p.from);
          const highs = ticked.map((p) => p.to);
          search({
            ...state,
            price_min: ticked.length && !lows.includes(null) ? String(Math.min(...lows)) : "",
            price_max: ticked.length && !highs.includes(null) ? String(Math.max(...highs)) : "",
          });
        }),
      ),
    );
}

function renderResults(body, append) {
  const list = byId("results");
  const cards = body.items.map(resultCard);
  if (append) list.append(...cards);
  else list.replaceChildren(...cards);
  const shown = list.children.length;
  byId("result-count").textContent =
    body.total === 0 ? "No products found." : `${body.total} ${body.total === 1 ? "product" : "products"} found; ${shown} shown.`;
  const more = byId("more");
  more.hidden = !body.next_cursor;
  more.dataset.cursor = body.next_cursor || "";
}

function showForm(s) {
  byId("q").value = s.q;
  byId("sort").value = s.sort;
  byId("in-stock").checked = Boolean(s.in_stock);
  byId("warehouse").value = s.warehouse;
}

export async function search(next, { push = true } = {}) {
  state = next;
  if (push && toUrl(state) !== location.pathname + location.search) history.pushState(null, "", toUrl(state));
  showForm(state);
  const mine = ++latest;
  byId("results").setAttribute("aria-busy", "true");
  await loading(
    async () => {
      const { body } = await read("/products/search", apiParams(state));
      if (mine !== latest) return;
      renderFacets(body.facets);
      renderResults(body, false);
    },
    (error) => {
      byId("result-count").textContent = error.message;
    },
  );
  if (mine === latest) byId("results").removeAttribute("aria-busy");
}

async function more() {
  const cursor = byId("more").dataset.cursor;
  if (!cursor) return;
  await loading(async () => {
    const { body } = await read("/products/search", { cursor });
    renderResults(body, true);
  });
}

function newQuery(q) {
  // A new text starts a new search; the facet choices made for the previous one go, the filters stay.
  search({ ...state, q, brand: [], category: [], price_min: "", price_max: "" });
}

function start() {
  const form = byId("search");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    newQuery(byId("q").value.trim());
  });
  attachSuggestions(byId("q"), byId("suggestions"), (text) => newQuery(text));
  byId("sort").addEventListener("change", (e) => search({ ...state, sort: e.target.value }));
  byId("in-stock").addEventListener("change", (e) => search({ ...state, in_stock: e.target.checked ? "true" : "" }));
  byId("warehouse").addEventListener("change", (e) => search({ ...state, warehouse: e.target.value.trim() }));
  byId("more").addEventListener("click", more);
  window.addEventListener("popstate", () => search(fromUrl(), { push: false }));
  search(state, { push: false });
}

start();
