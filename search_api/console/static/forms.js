// A form that sends a command: its errors shown next to it, its Idempotency-Key kept for a retry of the same
// command after no answer (so that a command the write API did apply is not applied twice).

import { Unavailable, idempotencyKey } from "./api.js";
import { clearErrors, showError } from "./dom.js";

const pending = new WeakMap(); // form -> {body, key} of an attempt that got no answer

// `send(values, retryKey)` sends the command and answers the write API's answer; `done(answer, values)` shows its
// effect. Values are the form's fields by name.
export function commandForm(form, send, done) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const values = Object.fromEntries(new FormData(form));
    const body = JSON.stringify(values);
    const retryKey = pending.get(form)?.body === body ? pending.get(form).key : idempotencyKey();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    form.setAttribute("aria-busy", "true");
    try {
      const answer = await send(values, retryKey);
      pending.delete(form);
      await done(answer, values);
    } catch (error) {
      if (error instanceof Unavailable) pending.set(form, { body, key: retryKey });
      else pending.delete(form);
      showError(form, error);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      form.removeAttribute("aria-busy");
    }
  });
}

export function integer(value) {
  // The API checks the number; a field left as typed ("1.5", "") reaches it as such and comes back with its error.
  const n = Number(value);
  return value !== "" && Number.isInteger(n) ? n : value;
}
