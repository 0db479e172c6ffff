-- GET / on the yardstick servers (raw ASGI, trivial FastAPI 204).
--   wrk -t1 -c50 -d10s -s loadtests/wrk/trivial.lua http://127.0.0.1:PORT
dofile((os.getenv("WRK_LIB") or "loadtests/wrk") .. "/common.lua")
wrk.method = "GET"
wrk.path = "/"
