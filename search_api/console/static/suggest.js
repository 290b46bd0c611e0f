// Autocomplete for the search box, as an ARIA combobox: suggestions appear as you type (the search API's
// suggester tolerates typos); arrow keys move through them, Enter or a click picks one, Escape closes the list.

import { read } from "./api.js";
import { el } from "./dom.js";

const DELAY_MS = 120; // typing pauses shorter than this ask nothing
const MIN_LETTERS = 2;

export function attachSuggestions(input, list, pick) {
  let timer = null;
  let asked = 0;
  let active = -1;

  const options = () => Array.from(list.querySelectorAll('[role="option"]'));

  function close() {
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function choose(text) {
    close();
    input.value = text;
    pick(text);
  }

  function mark(index) {
    const all = options();
    if (!all.length) return;
    active = (index + all.length) % all.length;
    all.forEach((option, i) => option.setAttribute("aria-selected", String(i === active)));
    input.setAttribute("aria-activedescendant", all[active].id);
    all[active].scrollIntoView({ block: "nearest" });
  }

  async function suggest() {
    const text = input.value.trim();
    const mine = ++asked;
    if (text.length < MIN_LETTERS) return close();
    let body;
    try {
      ({ body } = await read("/products/suggest", { q: text, size: 8 }));
    } catch {
      return close(); // suggestions are a help; the search itself reports an API that does not answer
    }
    if (mine !== asked || document.activeElement !== input) return;
    if (!body.suggestions.length) return close();
    list.replaceChildren(
      ...body.suggestions.map((s, i) =>
        el("li", {
          role: "option",
          id: `suggestion-${i}`,
          "aria-selected": "false",
          text: s.text,
          onmousedown: (event) => event.preventDefault(), // keep the focus in the box
          onclick: () => choose(s.text),
        }),
      ),
    );
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(suggest, DELAY_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      mark(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      choose(options()[active].textContent);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  input.form.addEventListener("submit", () => {
    clearTimeout(timer);
    asked += 1; // a suggestion list still on its way is not wanted any more
    close();
  });
}
