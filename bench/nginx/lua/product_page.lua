-- A minimal stand-in for lua-resty-template (not packaged by Debian): the template file
-- is read and compiled once (in init_by_lua) into literal chunks and field names;
-- render() HTML-escapes every {{field}} (like resty.template's {{ }} and handlebars).
local _M = {}

local chunks = nil   -- { literal, field, literal, field, ..., literal }

function _M.load(path)
    local f = assert(io.open(path, "r"), "cannot open template " .. path)
    local src = f:read("*a")
    f:close()
    local out, pos = {}, 1
    while true do
        local s, e, name = src:find("{{%s*([%w_]+)%s*}}", pos)
        if not s then break end
        out[#out + 1] = src:sub(pos, s - 1)
        out[#out + 1] = name
        pos = e + 1
    end
    out[#out + 1] = src:sub(pos)
    chunks = out
end

local escapes = {
    ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;",
}

local function escape(v)
    if v == nil then return "" end
    return (string.gsub(tostring(v), "[&<>\"']", escapes))
end

function _M.render(ctx)
    local buf = {}
    local n = #chunks
    for i = 1, n do
        if i % 2 == 1 then
            buf[i] = chunks[i]
        else
            buf[i] = escape(ctx[chunks[i]])
        end
    end
    return table.concat(buf)
end

return _M
