-- Clicks on the tracking links of the example registry: GET /c/{partner}/{campaign}, no
-- cookie (a new visitor each time), a browser User-Agent. Expect 302.
--   wrk -t1 -c50 -d10s -s loadtests/wrk/click.lua http://127.0.0.1:PORT
dofile((os.getenv("WRK_LIB") or "loadtests/wrk") .. "/common.lua")
local partners = {"coupon-hub", "cashback-club", "style-by-mia", "gadget-review-blog", "bizleads"}
local campaigns = {"acme-summer-sale", "acme-newsletter"}
local n = 0
wrk.headers["User-Agent"] =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " ..
  "Chrome/131.0.0.0 Safari/537.36"
request = function()
  n = n + 1
  local path = "/c/" .. partners[n % #partners + 1] .. "/" .. campaigns[n % #campaigns + 1] ..
    "?sub1=wrk"
  return wrk.format("GET", path)
end
