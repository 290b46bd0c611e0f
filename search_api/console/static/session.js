// Sign-in with an API key, and the gate of a staff page: a page the key's role may not see says so.

import { ApiError, read, session } from "./api.js";
import { byId, clearErrors, showError } from "./dom.js";

const ROLE_NAMES = {
  catalog: "catalogue",
  warehouse: "warehouse",
  storefront: "storefront",
  backoffice: "back-office",
  admin: "admin",
};

function roleList(roles) {
  const names = roles.filter((r) => r !== "admin").map((r) => ROLE_NAMES[r] || r);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : names[0];
}

function showSignedIn(role) {
  byId("sign-in").hidden = Boolean(role);
  byId("signed-in").hidden = !role;
  byId("signed-in-role").textContent = role ? ROLE_NAMES[role] || role : "";
}

// Calls `start(role)` once the signed-in key's role may see this page; until then the page says what it needs.
export function staffPage(start) {
  const allowed = document.body.dataset.roles.split(" ").filter(Boolean);
  const title = document.body.dataset.title;
  const form = byId("sign-in");
  let started = false;

  function gate() {
    const role = session.role();
    showSignedIn(role);
    const closed = byId("closed");
    const content = byId("page-content");
    const needed = `${roleList(allowed)} key`;
    if (role && allowed.includes(role)) {
      closed.hidden = true;
      content.hidden = false;
      if (!started) {
        started = true;
        start(role);
      }
      return;
    }
    content.hidden = true;
    closed.hidden = false;
    byId("closed-text").textContent = role
      ? `A ${ROLE_NAMES[role] || role} key may not see the ${title} page: it needs a ${needed}.`
      : `Sign in with your API key to use the ${title} page (it needs a ${needed}).`;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const key = form.elements.namedItem("key").value.trim();
    try {
      const { body } = await read("/console/role", {}, key);
      session.signIn(key, body.role);
      form.reset();
      gate();
    } catch (error) {
      const invalid = error instanceof ApiError && error.status === 401;
      showError(form, invalid ? new Error("This API key is not valid.") : error);
    }
  });
  byId("sign-out").addEventListener("click", () => {
    session.signOut();
    location.reload(); // nothing read with the key stays on the page
  });
  gate();
}
