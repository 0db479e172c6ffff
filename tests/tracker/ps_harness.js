// Runs tracker/static/ps.js in a bare vm context with stubbed browser objects.
// Usage: node ps_harness.js <path to ps.js> '<scenario JSON>'; prints what the snippet did.
"use strict";
const fs = require("fs");
const vm = require("vm");

const src = fs.readFileSync(process.argv[2], "utf8");
const sc = JSON.parse(process.argv[3]);

const jar = {};
const cookieWrites = [];
for (const part of (sc.cookie || "").split(";")) {
  const [k, v] = part.trim().split("=");
  if (k) jar[k] = v;
}
const storage = Object.assign({}, sc.storage || {});
const beacons = [];
const images = [];

const sandbox = {
  URL,
  location: { href: sc.href, protocol: new URL(sc.href).protocol },
  document: {
    get cookie() {
      return Object.entries(jar).map(([k, v]) => k + "=" + v).join("; ");
    },
    set cookie(value) {
      cookieWrites.push(value);
      const [k, v] = value.split(";")[0].split("=");
      jar[k.trim()] = v;
    },
  },
  localStorage: {
    getItem(k) {
      if (sc.storageThrows) throw new Error("SecurityError");
      return Object.prototype.hasOwnProperty.call(storage, k) ? storage[k] : null;
    },
    setItem(k, v) {
      if (sc.storageThrows) throw new Error("SecurityError");
      storage[k] = String(v);
    },
  },
  navigator: {},
  Image: function Image() {
    images.push(this);
  },
  crypto: sc.noRandomUUID ? {} : { randomUUID: () => "0190c7a2-0000-4000-8000-000000000001" },
};
if (sc.beacon !== "missing") {
  sandbox.navigator.sendBeacon = function (url, data) {
    if (this !== sandbox.navigator) throw new TypeError("Illegal invocation");
    beacons.push({ url, data, type: typeof data });
    if (sc.beacon === "throw") throw new Error("beacon failed");
    return sc.beacon !== "refuse";
  };
}
sandbox.window = sandbox;
vm.createContext(sandbox);
vm.runInContext("Date.now = function () { return " + sc.now + "; };", sandbox);
vm.runInContext(src, sandbox);

const out = { hasPs: typeof sandbox.ps === "object" };
if (sc.init) out.init = sandbox.ps.init(sc.init);
if (sc.convert !== undefined) out.convert = sandbox.ps.convert(sc.convert);
out.clickId = sandbox.ps.clickId();
out.beacons = beacons;
out.images = images.map((img) => img.src);
out.cookieWrites = cookieWrites;
out.storage = storage;
process.stdout.write(JSON.stringify(out));
