"""Staff authentication shared by the staff APIs of every app (metrics, the events feed)."""

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from loyalty_engine.throttling import failed_authentication_throttled


@failed_authentication_throttled
class StaffTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing a malformed key before it reaches the database
    (a NUL byte would make PostgreSQL raise, and a 500 is a bug)."""

    def authenticate_credentials(self, key):
        if len(key) > 64 or not key.isprintable():
            raise exceptions.AuthenticationFailed("The token is malformed.")
        return super().authenticate_credentials(key)
