"""The rewards app's API views, one module per part of the API: `members`, `purchases`
(earn and refund), `redemptions` (spend and holds), `me` (what a member reads), `program`
and `vouchers`. `common` holds what they share. `rewards/urls.py` maps the routes."""
