-- Impression pixels: GET /i/{partner}/{campaign} (a 1x1 GIF), a browser User-Agent.
--   wrk -t1 -c50 -d10s -s loadtests/wrk/impression.lua http://127.0.0.1:PORT
dofile((os.getenv("WRK_LIB") or "loadtests/wrk") .. "/common.lua")
local partners = {"style-by-mia", "gadget-review-blog", "coupon-hub"}
local campaigns = {"acme-summer-sale", "acme-newsletter"}
local n = 0
wrk.headers["User-Agent"] =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 " ..
  "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
request = function()
  n = n + 1
  return wrk.format("GET", "/i/" .. partners[n % #partners + 1] .. "/" ..
    campaigns[n % #campaigns + 1])
end
