// The two APIs as the console calls them: reads from the search API (this page's origin), commands to the write
// API (another origin, allowed by its CORS_ORIGINS), both with the signed-in key as the bearer token.

const KEY = "console.key";
const ROLE = "console.role";

// The key lives in sessionStorage: it is gone when the tab closes and is never sent anywhere but the two APIs.
export const session = {
  key: () => sessionStorage.getItem(KEY),
  role: () => sessionStorage.getItem(ROLE),
  signIn(key, role) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(ROLE, role);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ROLE);
  },
};

// An answer of the API.md error envelope: `fields` names each bad field (details.fields), `details` the rest.
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.fields = this.details.fields || {};
  }
}

// The API did not answer at all, or answered that a dependency is down (503): worth a retry.
export class Unavailable extends Error {
  constructor(service, message) {
    super(message || `The ${service} does not answer.`);
    this.service = service;
  }
}

export const writeApiUrl = () => document.body.dataset.writeApi;

function authorization(key) {
  const k = key === undefined ? session.key() : key;
  return k ? { Authorization: `Bearer ${k}` } : {};
}

async function call(service, url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new Unavailable(service);
  }
  if (response.ok) return response;
  let envelope = null;
  try {
    envelope = (await response.json()).error;
  } catch {
    envelope = null;
  }
  if (response.status === 503 || response.status === 502 || response.status === 504) {
    throw new Unavailable(service, envelope?.message ? `The ${service}: ${envelope.message}.` : undefined);
  }
  throw new ApiError(
    response.status,
    envelope?.code || "error",
    envelope?.message || `The ${service} answered HTTP ${response.status}.`,
    envelope?.details,
  );
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "" && v !== false) search.append(name, String(v));
    }
  }
  return search;
}

// A read: the body, and what the answer reflects (X-Position) and whether it is stale (X-Consistency).
export async function read(path, params = {}, key = undefined) {
  const qs = query(params).toString();
  const response = await call("search API", qs ? `${path}?${qs}` : path, { headers: authorization(key) });
  return {
    body: await response.json(),
    position: Number(response.headers.get("X-Position") || 0),
    stale: response.headers.get("X-Consistency") === "stale",
  };
}

// The raw answer of a read (for files such as the CSV export).
export async function download(path, params = {}) {
  return call("search API", `${path}?${query(params)}`, { headers: authorization() });
}

function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// A command to the write API. `retryKey` is the Idempotency-Key of the attempt: a retry of the same command after
// no answer passes the same one, so the command is applied at most once.
export async function command(method, path, body, retryKey = idempotencyKey()) {
  const headers = { "Content-Type": "application/json", ...authorization() };
  if (method === "POST") headers["Idempotency-Key"] = retryKey;
  const response = await call("write API", `${writeApiUrl()}${path}`, {
    method,
    headers,
    body: JSON.stringify(body),
  });
  return response.json();
}

export { idempotencyKey };
