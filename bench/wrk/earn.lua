-- POST /api/v1/purchases: a random member of BENCH_MEMBERS, a fresh order id each request.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function request()
  local body = string.format(
    '{"member": "%s", "order_id": "%s", "amount": "%d.%02d", "currency": "EUR"}',
    random_member(), unique("wrk"), math.random(5, 200), math.random(0, 99))
  return wrk.format("POST", "/api/v1/purchases", shop_headers(), body)
end
