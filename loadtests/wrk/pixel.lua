-- The conversion pixel: GET /p.gif?key=...&event=purchase&order_id=...&amount=...&currency=EUR
-- with the example registry's write key; a new order id per request. Always a GIF (200);
-- a refused event would show in X-Partnerstream-Rejected (the run checks the dead letters).
--   wrk -t1 -c50 -d10s -s loadtests/wrk/pixel.lua http://127.0.0.1:PORT
dofile((os.getenv("WRK_LIB") or "loadtests/wrk") .. "/common.lua")
local n = 0
math.randomseed(os.time())
local thread_tag = tostring(math.random(100000, 999999))
wrk.headers["User-Agent"] =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0"
request = function()
  n = n + 1
  local path = string.format(
    "/p.gif?key=dev-acme-write-key&event=purchase&order_id=wrk-%s-%d&amount=%d.%02d&currency=EUR",
    thread_tag, n, 5 + n % 200, n % 100)
  return wrk.format("GET", path)
end
