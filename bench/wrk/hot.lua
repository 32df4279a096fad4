-- wrk script of the hot-products benchmark (bench/hot_bench.py, issue 9): product pages of
-- Zipf-distributed products, plus a flash crowd on one product.
-- Environment:
--   HOT_PRODUCTS  products 1..N drawn Zipf(HOT_S) (default 10000)
--   HOT_S         Zipf exponent (default 1.0)
--   HOT_FLASH     per mille of requests for product HOT_FLASH_ID instead (default 0)
--   HOT_FLASH_ID  the flash product (default 999999, outside the Zipf range: cold before)
-- shopId is a function of productId, so each product is one page (one URL).
local n = tonumber(os.getenv("HOT_PRODUCTS") or "10000")
local s = tonumber(os.getenv("HOT_S") or "1.0")
local flash = tonumber(os.getenv("HOT_FLASH") or "0")
local flash_id = tonumber(os.getenv("HOT_FLASH_ID") or "999999")

local cdf = {}
local counter = 0

function init(args)
  math.randomseed(os.time() * 1000 + counter)
  counter = counter + 1
  local acc = 0
  for k = 1, n do
    acc = acc + 1 / (k ^ s)
    cdf[k] = acc
  end
  for k = 1, n do
    cdf[k] = cdf[k] / acc
  end
end

local function zipf()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

request = function()
  local id
  if flash > 0 and math.random(1000) <= flash then id = flash_id else id = zipf() end
  return wrk.format(nil, "/product?productId=" .. id .. "&shopId=" .. (id % 100))
end
