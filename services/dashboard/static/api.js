// The reports API of the same origin: URLs (JSON and CSV), authenticated GETs, the read key.

const KEY_STORAGE = "partnerstream.readKey";

export class ApiError extends Error {
  constructor(status, reason, detail) {
    super(detail || reason || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.reason = reason;
  }

  get unauthorized() {
    return this.status === 401 || this.status === 403;
  }
}

/** Where the app is mounted ("" or "/partnerstream"), written into the page by the server. */
export function apiRoot() {
  const meta = document.querySelector('meta[name="partnerstream-root"]');
  return meta ? meta.content : "";
}

export function readKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch (_storageDisabled) {
    return "";
  }
}

export function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch (_storageDisabled) {
    // Private mode without storage: the key lives for this page only.
  }
}

/** An absolute URL of the API: `path` under the app root, with the non-empty `params`. */
export function apiUrl(path, params = {}) {
  const url = new URL(apiRoot() + path, window.location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url.toString();
}

/** The CSV download of a report: the same query with `format=csv` and the key in the URL
 * (a plain link cannot send an Authorization header). */
export function csvUrl(path, params, key) {
  return apiUrl(path, { ...params, format: "csv", key });
}

export async function getJson(path, params, key, signal) {
  const response = await fetch(apiUrl(path, params), {
    headers: { Accept: "application/json", Authorization: `Bearer ${key}` },
    signal,
    credentials: "omit",
  });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_notJson) {
    body = null;
  }
  if (!response.ok) {
    const detail = body && typeof body === "object" ? body.detail || body.error : null;
    const reason = body && typeof body === "object" ? body.error : null;
    throw new ApiError(response.status, reason, typeof detail === "string" ? detail : text.slice(0, 200));
  }
  if (body === null || typeof body !== "object") {
    throw new ApiError(response.status, "bad_response", "the API answered with something other than JSON");
  }
  return body;
}

/** A report body's rows as objects keyed by column name. */
export function records(body) {
  const columns = Array.isArray(body.columns) ? body.columns : [];
  const rows = Array.isArray(body.rows) ? body.rows : [];
  return rows.map((row) => Object.fromEntries(columns.map((name, i) => [name, row[i]])));
}
