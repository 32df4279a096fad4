-- The product page with the rendered page kept in the shared dict too (10-minute TTL, as
-- the data): what an OpenResty team adds once rendering shows in the profile. The fair
-- comparator for edgeproxy's render reuse (bench/pagebench.py target `nginx+pages`).
local uri_args = ngx.req.get_uri_args()
local productId, shopId = uri_args["productId"], uri_args["shopId"]
local cache_ngx = ngx.shared.my_cache
local key = "page_" .. tostring(productId) .. "_" .. tostring(shopId)
local html = cache_ngx:get(key)
if html == nil then
    html = require("product_render").render(productId, shopId)
    cache_ngx:set(key, html, 10 * 60)
end
ngx.print(html)
