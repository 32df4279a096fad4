-- The OpenResty product page script of issue 4 as a function, unchanged in its logic:
-- shared dict first, origin on a miss (written back with a 10-minute TTL), both JSON
-- documents decoded on every request, the template rendered with the seed's fields.
-- (Like the seed, it does not validate productId/shopId.) product.lua serves it as is;
-- product_cached.lua keeps the rendered pages too.
local _M = {}

function _M.render(productId, shopId)
    local cjson = require("cjson")
    local page = require("product_page")

    local cache_ngx = ngx.shared.my_cache
    local productCacheKey = "product_info_" .. productId
    local shopCacheKey = "shop_info_" .. shopId

    local productCache = cache_ngx:get(productCacheKey)
    local shopCache = cache_ngx:get(shopCacheKey)

    if productCache == "" or productCache == nil then
        local resp = ngx.location.capture("/_origin/getProductInfo",
            { args = { productId = productId } })
        productCache = resp.body
        cache_ngx:set(productCacheKey, productCache, 10 * 60)
    end

    if shopCache == "" or shopCache == nil then
        local resp = ngx.location.capture("/_origin/getShopInfo",
            { args = { shopId = shopId } })
        shopCache = resp.body
        cache_ngx:set(shopCacheKey, shopCache, 10 * 60)
    end

    local productCacheJSON = cjson.decode(productCache)
    local shopCacheJSON = cjson.decode(shopCache)

    local context = {
        productId = productCacheJSON.id,
        productName = productCacheJSON.name,
        productPictureList = productCacheJSON.pictureList,
        productSpecification = productCacheJSON.specification,
        productService = productCacheJSON.service,
        productColor = productCacheJSON.color,
        productSize = productCacheJSON.size,
        productDescription = productCacheJSON.description,
        shopId = shopCacheJSON.id,
        shopName = shopCacheJSON.name,
        shopLevel = shopCacheJSON.level,
        shopGoodCommentRate = shopCacheJSON.goodCommentRate,
    }

    return page.render(context)
end

return _M
