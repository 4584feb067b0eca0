-- POST /api/v1/redemptions: 1 point from a random member, a fresh Idempotency-Key each request.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function request()
  local headers = shop_headers()
  headers["Idempotency-Key"] = unique("wrk-key")
  local body = string.format('{"member": "%s", "points": 1}', random_member())
  return wrk.format("POST", "/api/v1/redemptions", headers, body)
end
