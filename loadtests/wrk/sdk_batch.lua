-- SDK batches: POST /v1/events with the body in the file named by WRK_BODY (written by
-- loadtests/bench_sdk.py: 50 events of realistic journeys) and the example write key.
--   WRK_BODY=batch.json wrk -t1 -c50 -d10s -s loadtests/wrk/sdk_batch.lua http://127.0.0.1:PORT
dofile((os.getenv("WRK_LIB") or "loadtests/wrk") .. "/common.lua")
local file = assert(io.open(os.getenv("WRK_BODY") or "batch.json", "rb"))
wrk.method = "POST"
wrk.path = "/v1/events"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("WRK_WRITE_KEY") or "dev-acme-write-key")
