-- wrk script shared by every benchmark (same script for edgeproxy and nginx).
-- Environment:
--   BENCH_MODE      plain (default: the URL path as given) | hash | page
--   BENCH_KEYS      number of distinct productId values (default 10000)
--   BENCH_SHOPS     number of distinct shopId values for page (default 100)
--   BENCH_DELAY_MS  per-connection pause before each request (0 = closed loop at full
--                   speed); with C connections the offered rate is about
--                   C * 1000 / (delay + latency) requests/s: the "fixed rate" runs.
local mode = os.getenv("BENCH_MODE") or "plain"
local nkeys = tonumber(os.getenv("BENCH_KEYS") or "10000")
local nshops = tonumber(os.getenv("BENCH_SHOPS") or "100")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

local counter = 0
function init(args)
  math.randomseed(os.time() + counter)
  counter = counter + 1
end

if mode == "hash" then
  request = function()
    return wrk.format(nil, "/product?productId=" .. math.random(1, nkeys))
  end
elseif mode == "page" then
  request = function()
    return wrk.format(nil, "/product?productId=" .. math.random(1, nkeys)
      .. "&shopId=" .. math.random(1, nshops))
  end
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end
