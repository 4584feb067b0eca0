-- One member (BENCH_HOT_MEMBER) earning and redeeming from every connection: each thread
-- alternates a purchase of 10.00 EUR and a redemption of 3 points.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local hot_member = os.getenv("BENCH_HOT_MEMBER") or "bench-1"

function request()
  local headers = shop_headers()
  if counter % 2 == 0 then
    local body = string.format(
      '{"member": "%s", "order_id": "%s", "amount": "10.00", "currency": "EUR"}',
      hot_member, unique("wrk-hot"))
    return wrk.format("POST", "/api/v1/purchases", headers, body)
  end
  headers["Idempotency-Key"] = unique("wrk-hot-key")
  return wrk.format("POST", "/api/v1/redemptions", headers,
    string.format('{"member": "%s", "points": 3}', hot_member))
end
