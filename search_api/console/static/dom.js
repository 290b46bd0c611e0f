// Building the page from API answers. Text from the APIs always goes in as text nodes, never as markup.

import { ApiError, Unavailable } from "./api.js";

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export const byId = (id) => document.getElementById(id);

// A highlight fragment of the search API marks matches with <em>; everything else in it is the catalogue's text,
// which is put in as text (a product name with markup in it stays text).
export function highlighted(fragment) {
  const out = document.createDocumentFragment();
  const parts = String(fragment).split(/<em>(.*?)<\/em>/s);
  parts.forEach((part, i) => {
    if (!part) return;
    out.append(i % 2 ? el("mark", { text: part }) : document.createTextNode(part));
  });
  return out;
}

export function money(price) {
  if (!price) return "";
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: price.currency }).format(Number(price.amount));
  } catch {
    return `${price.amount} ${price.currency}`;
  }
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }) : "";
}

export function clearErrors(form) {
  const summary = form.querySelector(".form-error");
  if (summary) {
    summary.textContent = "";
    summary.hidden = true;
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
  for (const message of form.querySelectorAll(".field-error")) message.remove();
}

// The API's field names (`quantity`, `lines.0.sku`, `low_stock_threshold`) are matched to the form's inputs by
// name, last segment first.
function inputFor(form, field) {
  const segments = field.split(".");
  for (let i = segments.length - 1; i >= 0; i -= 1) {
    const input = form.elements.namedItem(segments.slice(i).join("."));
    if (input instanceof HTMLElement) return input;
  }
  return null;
}

// The error next to the form that caused it: the API's message, and each field's own message beside that field.
export function showError(form, error) {
  clearErrors(form);
  const summary = form.querySelector(".form-error");
  const lines = [];
  if (error instanceof ApiError) {
    lines.push(error.message);
    for (const [field, problem] of Object.entries(error.fields)) {
      lines.push(`${field}: ${problem}`);
      const input = inputFor(form, field);
      if (!input) continue;
      const message = el("span", { class: "field-error", id: `${input.id}-error`, text: problem });
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", message.id);
      input.insertAdjacentElement("afterend", message);
    }
  } else if (error instanceof Unavailable) {
    lines.push(`${error.message} Nothing was changed; try again.`);
  } else {
    lines.push(String(error.message || error));
  }
  summary.textContent = lines.join("\n");
  summary.hidden = false;
  const firstInvalid = form.querySelector("[aria-invalid]");
  (firstInvalid || summary).focus?.();
}

// The page-wide notice for an API that does not answer, with a retry of what failed.
export function showUnavailable(error, retry) {
  const notice = byId("notice");
  notice.querySelector(".notice-text").textContent = `${error.message} The page will show its data again once it answers.`;
  const button = notice.querySelector("button");
  button.onclick = () => {
    notice.hidden = true;
    retry();
  };
  notice.hidden = false;
}

export function hideUnavailable() {
  byId("notice").hidden = true;
}

// Runs a page's read; an API that does not answer shows the notice (retry runs it again), other errors go to
// `onError` (or the notice's text when there is none).
export async function loading(task, onError) {
  try {
    const result = await task();
    hideUnavailable();
    return result;
  } catch (error) {
    if (error instanceof Unavailable) showUnavailable(error, () => loading(task, onError));
    else if (onError) onError(error);
    else showUnavailable(error, () => loading(task, onError));
    return undefined;
  }
}

export function table(caption, headers, rows) {
  return el(
    "table",
    {},
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows),
  );
}
