// Number, money, share, duration and date formatting for labels, tooltips and tables.
// Money arrives as integer minor units (cents) and is shown with two decimals.

const locale = typeof navigator === "undefined" ? "en-US" : navigator.language || "en-US";
const cache = new Map();

function numberFormat(options) {
  const key = JSON.stringify(options);
  if (!cache.has(key)) {
    try {
      cache.set(key, new Intl.NumberFormat(locale, options));
    } catch (_unknownCurrency) {
      const { style: _style, currency: _currency, ...rest } = options;
      cache.set(key, new Intl.NumberFormat(locale, rest));
    }
  }
  return cache.get(key);
}

function currencyOptions(currency) {
  return currency ? { style: "currency", currency } : {};
}

export function money(minor, currency) {
  if (minor === null || minor === undefined || Number.isNaN(Number(minor))) return "–";
  const options = { ...currencyOptions(currency), minimumFractionDigits: 2, maximumFractionDigits: 2 };
  return numberFormat(options).format(Number(minor) / 100);
}

export function moneyShort(minor, currency) {
  const options = { ...currencyOptions(currency), notation: "compact", maximumFractionDigits: 1 };
  return numberFormat(options).format(Number(minor) / 100);
}

/** A count; fractional counts (credited conversions under multi-touch models) keep two
 * decimals. */
export function integer(value) {
  if (value === null || value === undefined) return "–";
  const n = Number(value);
  return numberFormat({ maximumFractionDigits: Number.isInteger(n) ? 0 : 2 }).format(n);
}

export function decimal(value, digits = 2) {
  if (value === null || value === undefined) return "–";
  return numberFormat({ maximumFractionDigits: digits }).format(Number(value));
}

export function compact(value) {
  return numberFormat({ notation: "compact", maximumFractionDigits: 1 }).format(Number(value));
}

/** A share in [0, 1] as a percentage. */
export function share(value, digits = 1) {
  if (value === null || value === undefined) return "–";
  return numberFormat({ style: "percent", maximumFractionDigits: digits }).format(Number(value));
}

/** A value already in percent (12.5 means 12.5 %), signed: "+12.5 %". */
export function signedPercent(value) {
  if (value === null || value === undefined) return "–";
  const text = numberFormat({ maximumFractionDigits: 1, signDisplay: "exceptZero" }).format(
    Number(value),
  );
  return `${text} %`;
}

/** Seconds as a short human duration: "42 s", "3.5 min", "2.1 h", "4.0 d". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Number(seconds);
  if (s < 60) return `${decimal(s, s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${decimal(s / 60, 1)} min`;
  if (s < 86400) return `${decimal(s / 3600, 1)} h`;
  return `${decimal(s / 86400, 1)} d`;
}

export function dateTime(value) {
  const date = toDate(value);
  if (!date) return value ? String(value) : "–";
  return date.toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

/** A report period ("2025-06-02", "2025-06", or a timestamp) as a short axis label. */
export function period(value, granularity) {
  const text = String(value);
  const match = /^(\d{4})-(\d{2})(?:-(\d{2}))?/.exec(text);
  if (!match) return text;
  const [, y, m, d] = match;
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d || "1")));
  if (granularity === "month" || d === undefined) {
    return date.toLocaleDateString(locale, { month: "short", year: "numeric", timeZone: "UTC" });
  }
  return date.toLocaleDateString(locale, { month: "short", day: "numeric", timeZone: "UTC" });
}

/** The calendar day after a YYYY-MM-DD date, as YYYY-MM-DD. */
export function nextDay(text) {
  const [y, m, d] = text.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** A timestamp as a Date: an ISO string, or epoch milliseconds (seconds if below 1e11). */
export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number" || /^\d+(\.\d+)?$/.test(String(value))) {
    const n = Number(value);
    return new Date(n < 1e11 ? n * 1000 : n);
  }
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A local calendar date as YYYY-MM-DD. */
export function isoDate(date) {
  const y = date.getFullYear();
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

/** Formatter for a named kind: "money", "integer", "share", "percent", "duration", "decimal",
 * "datetime", "text", or "numtext" (already formatted, aligned as a number). */
export function formatterFor(kind, currency) {
  switch (kind) {
    case "money":
      return (v) => money(v, currency);
    case "integer":
      return integer;
    case "share":
      return (v) => share(v);
    case "percent":
      return signedPercent;
    case "duration":
      return duration;
    case "decimal":
      return (v) => decimal(v);
    case "datetime":
      return dateTime;
    default:
      return (v) => (v === null || v === undefined ? "–" : String(v));
  }
}

export function isNumericKind(kind) {
  return ["money", "integer", "share", "percent", "duration", "decimal", "numtext"].includes(kind);
}
