-- wrk script: a mix of valid requests over every model endpoint (plus /health), weighted roughly
-- as a browser frontend uses them, with per-status counts. Bodies are read from the directory given
-- after "--" (written by tests/hardening/bodies.py). Usage:
--   wrk -t2 -c64 -d300s -s tests/hardening/mix.lua http://127.0.0.1:PORT -- BODIES_DIR

local bodies_dir = nil
local plan = {}
counts = {}   -- status -> count, per thread (a global: done() reads it with thread:get)
local threads = {}

local function read(name)
    local f = assert(io.open(bodies_dir .. "/" .. name, "rb"))
    local data = f:read("*a")
    f:close()
    return data
end

local function add(weight, method, path, ctype, body)
    local headers = {}
    if ctype then headers["Content-Type"] = ctype end
    local req = wrk.format(method, path, headers, body)
    for _ = 1, weight do plan[#plan + 1] = req end
end

function setup(thread)
    thread:set("id", #threads + 1)
    threads[#threads + 1] = thread
end

function init(args)
    bodies_dir = args[1] or "build/hardening/bodies"
    local json, png = "application/json", "image/png"
    add(20, "POST", "/decode?format=json", json, read("decode_one.json"))
    add(10, "POST", "/decode", json, read("decode_one.json"))
    add(4, "POST", "/decode?format=json", json, read("decode_batch8.json"))
    add(16, "POST", "/encode", png, read("digit.png"))
    add(8, "POST", "/encode", json, read("encode_b64.json"))
    add(4, "POST", "/encode", json, read("encode_pixels.json"))
    add(6, "POST", "/reconstruct", png, read("digit.png"))
    add(8, "GET", "/sample?n=16&seed=7", nil, nil)
    add(4, "GET", "/sample?n=4&format=json", nil, nil)
    add(6, "POST", "/interpolate", json, read("interpolate_labels.json"))
    add(4, "POST", "/interpolate?format=json", json, read("interpolate_png.json"))
    add(4, "POST", "/v2/models/mnist-decoder/infer", json, read("oip_decode.json"))
    add(6, "GET", "/health", nil, nil)
end

local next_index = 0
function request()
    -- a fixed rotation (not random): every run sends the same mix in the same proportions
    next_index = next_index % #plan + 1
    return plan[next_index]
end

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end

-- per-thread counts are read back in done() through each thread's globals
function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        local c = t:get("counts")
        for status, n in pairs(c) do total[status] = (total[status] or 0) + n end
    end
    local parts, bad = {}, 0
    local keys = {}
    for status in pairs(total) do keys[#keys + 1] = status end
    table.sort(keys)
    for _, status in ipairs(keys) do
        parts[#parts + 1] = string.format("%d x %d", total[status], status)
        if status < 200 or status > 299 then bad = bad + total[status] end
    end
    local e = summary.errors
    io.write(string.format("mix: requests %d in %.1f s = %.0f/s; statuses: %s; non-2xx %d; socket errors: "
        .. "connect %d, read %d, write %d, timeout %d, status %d; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        table.concat(parts, ", "), bad, e.connect, e.read, e.write, e.timeout, e.status,
        latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
