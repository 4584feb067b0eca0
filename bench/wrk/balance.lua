-- GET /api/v1/me/balance as members: a random token of the file BENCH_TOKENS (one a line).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if #line > 0 then table.insert(tokens, line) end
end

function request()
  local token = tokens[math.random(1, #tokens)]
  return wrk.format("GET", "/api/v1/me/balance", {["Authorization"] = "Bearer " .. token})
end
