/*! partnerstream ps.js: first-party click id capture and conversion beacon. No dependencies.
 *
 * Usage, on landing pages and on the page where the conversion happens:
 *   <script src="https://collect.example.com/static/ps.js"></script>
 *   <script>
 *     ps.init({writeKey: "<write key>", endpoint: "https://collect.example.com", currency: "EUR"});
 *     ps.convert({event: "purchase", order_id: "A-1001", amount: 49.9});  // amount: major units
 *   </script>
 *
 * ps.init({writeKey, endpoint, param, currency}): reads the click id from the page URL
 *   (?clickid=..., or the parameter named `param`) and keeps it 30 days in the first-party
 *   cookie `ps_clickid` and in localStorage; a newer click replaces an older one. `currency`
 *   is the default for convert(). Returns the click id, or null.
 * ps.convert({event, order_id, amount, currency}): sends one batch as text/plain JSON (no CORS
 *   preflight) with navigator.sendBeacon to <endpoint>/v1/events:
 *     {"write_key": "...", "events": [{"type": "conversion", "event_name": "purchase",
 *      "ts": <epoch ms>, "event_id": "<uuid>", "click_id": "...", "order_id": "A-1001",
 *      "revenue": 4990, "currency": "EUR"}]}      (revenue in minor units: cents, JPY 0, KWD 3)
 *   If sendBeacon is missing or refuses, or the amount cannot be converted here (no currency,
 *   not a number), it loads <endpoint>/p.gif?key=&event=&order_id=&amount=&currency=&clickid=
 *   instead (the collector converts the amount). Returns false before init() or without event.
 * ps.clickId(): the stored click id, or null.
 */
(function () {
  var NAME = "ps_clickid", OK = /^[A-Za-z0-9_-]{8,256}$/, cfg = {},
    // ISO 4217 minor-unit exponents other than 2 (each code followed by its exponent)
    EXP = "BIF0CLP0DJF0GNF0ISK0JPY0KMF0KRW0PYG0RWF0UGX0VND0VUV0XAF0XOF0XPF0BHD3IQD3JOD3KWD3LYD3OMR3TND3";

  function store(id) {
    try {
      document.cookie = NAME + "=" + id + "; Max-Age=2592000; Path=/; SameSite=Lax" +
        (location.protocol == "https:" ? "; Secure" : "");
    } catch (e) {}
    try { localStorage.setItem(NAME, id + " " + (Date.now() + 2592e6)); } catch (e) {} // "<id> <expiry ms>"
  }

  function clickId() {
    var id, m;
    try { m = (localStorage.getItem(NAME) || "").split(" "); if (m[1] > Date.now()) id = m[0]; } catch (e) {}
    if (!id && (m = /(?:^|;\s*)ps_clickid=([^;]+)/.exec(document.cookie))) id = m[1];
    return id && OK.test(id) ? id : null;
  }

  function init(o) {
    o = o || {};
    cfg = { key: o.writeKey, url: (o.endpoint || "").replace(/\/+$/, ""), cur: o.currency || "" };
    var m = RegExp("[?&]" + (o.param || "clickid") + "=([^&#]*)").exec(location.href);
    if (m && OK.test(m[1])) store(m[1]);
    return clickId();
  }

  function convert(c) {
    if (!(cfg.key && c && c.event)) return false;
    var id = clickId(), cur = ((c.currency || cfg.cur) + "").toUpperCase(), amt = c.amount, q = [], k, i, ok = 1,
      ev = { type: "conversion", event_name: (c.event + "").toLowerCase(), ts: Date.now() };
    try { ev.event_id = crypto.randomUUID(); } catch (e) {} // https pages only
    if (id) ev.click_id = id;
    if (c.order_id != null) ev.order_id = c.order_id + "";
    if (amt != null && amt !== "") {
      ev.revenue = Math.round(amt * Math.pow(10, (i = EXP.indexOf(cur)) < 0 ? 2 : +EXP.charAt(i + 3)));
      ev.currency = cur;
      ok = /^[A-Z]{3}$/.test(cur) && isFinite(ev.revenue);
    }
    try { // a missing sendBeacon throws too
      if (ok && navigator.sendBeacon(cfg.url + "/v1/events", JSON.stringify({ write_key: cfg.key, events: [ev] }))) return true;
    } catch (e) {}
    c = { key: cfg.key, event: c.event, order_id: c.order_id, amount: amt, currency: cur, clickid: id };
    for (k in c) if (c[k] != null && c[k] !== "") q.push(k + "=" + encodeURIComponent(c[k]));
    new Image().src = cfg.url + "/p.gif?" + q.join("&");
    return true;
  }

  window.ps = { init, convert, clickId };
})();
