-- The OpenResty product page script of issue 4 (product_render.lua): every hit decodes both
-- JSON documents and renders the template again.
local uri_args = ngx.req.get_uri_args()
ngx.print(require("product_render").render(uri_args["productId"], uri_args["shopId"]))
