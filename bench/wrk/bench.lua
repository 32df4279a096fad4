-- wrk script shared by every benchmark (same script for edgeproxy and nginx).
-- Environment:
--   BENCH_MODE      plain (default: the URL path as given) | hash | page
--   BENCH_DIST      uniform (default) | zipf: how productId is drawn (hash and page)
--   BENCH_KEYS      number of distinct productId values (default 10000)
--   BENCH_SHOPS     number of distinct shopId values for page (default 100)
--   BENCH_ZIPF_S    Zipf exponent (default 1.0): P(rank k) ~ 1/k^s, rank k = productId k
--   BENCH_DELAY_MS  per-connection pause before each request (0 = closed loop at full
--                   speed); with C connections the offered rate is about
--                   C * 1000 / (delay + latency) requests/s: the "fixed rate" runs.
-- page + uniform: productId and shopId independent and uniform (the historical page bench);
-- page + zipf: each product belongs to one shop, shopId = (productId * 7919) % shops + 1.
-- bench/workload.py draws the same mixes for the fixed-count runs (fill, callgrind).
local mode = os.getenv("BENCH_MODE") or "plain"
local dist = os.getenv("BENCH_DIST") or "uniform"
local nkeys = tonumber(os.getenv("BENCH_KEYS") or "10000")
local nshops = tonumber(os.getenv("BENCH_SHOPS") or "100")
local zipf_s = tonumber(os.getenv("BENCH_ZIPF_S") or "1.0")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

local counter = 0
function init(args)
  math.randomseed(os.time() + counter)
  counter = counter + 1
end

-- productId: uniform, or Zipf by inverse CDF (binary search over the cumulative weights).
local product
if dist == "zipf" then
  local cdf, acc = {}, 0.0
  for k = 1, nkeys do
    acc = acc + 1.0 / (k ^ zipf_s)
    cdf[k] = acc
  end
  product = function()
    local u = math.random() * acc
    local lo, hi = 1, nkeys
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if cdf[mid] < u then lo = mid + 1 else hi = mid end
    end
    return lo
  end
else
  product = function() return math.random(1, nkeys) end
end

if mode == "hash" then
  request = function()
    return wrk.format(nil, "/product?productId=" .. product())
  end
elseif mode == "page" then
  request = function()
    local p = product()
    local s
    if dist == "zipf" then s = (p * 7919) % nshops + 1 else s = math.random(1, nshops) end
    return wrk.format(nil, "/product?productId=" .. p .. "&shopId=" .. s)
  end
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end
