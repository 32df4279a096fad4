-- Origin of the page benchmarks: /getProductInfo and /getShopInfo answer JSON built from the
-- query. Product names contain < > & ' (both proxies must escape them). Each product has a
-- description of desc_len(id) bytes, between DESC_MIN and DESC_MAX (0 = empty), the same
-- formula as bench/workload.py. Only cache misses (the fill) reach the origin.
local cjson = require("cjson")
local _M = {}

local filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit; a 5.5\" display "
  .. "& fast charging, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "

local function description(id, lo, hi)
  if hi <= 0 then return "" end
  local n = lo + (id * 2654435761) % (hi - lo + 1)
  local reps = math.ceil(n / #filler)
  return string.sub(string.rep(filler, reps), 1, n)
end

function _M.product(lo, hi)
  local id = tonumber(ngx.var.arg_productId) or 0
  ngx.print(cjson.encode({
    id = id,
    name = "Product <" .. id .. "> & 'friends'",
    price = 99.5,
    pictureList = "a.jpg,b.jpg,c.jpg",
    specification = "iphone7 plus 128G, 5.5 inch",
    service = "7 days no reason return, free shipping",
    color = "red, white, black",
    size = "5.5",
    description = description(id, lo, hi),
  }))
end

function _M.shop()
  local id = tonumber(ngx.var.arg_shopId) or 0
  ngx.print(cjson.encode({ id = id, name = "Shop " .. id, level = 5, goodCommentRate = 0.99 }))
end

return _M
