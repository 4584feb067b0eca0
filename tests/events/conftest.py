import pytest

from tests.events.receivers import SmtpServer, WebhookReceiver


@pytest.fixture
def receiver():
    handle = WebhookReceiver().start()
    yield handle
    handle.stop()


@pytest.fixture
def smtp(settings):
    server = SmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.stop()


@pytest.fixture
def local_webhooks(settings):
    settings.WEBHOOK_ALLOW_LOCAL = True
    settings.WEBHOOK_RETRY_SCHEDULE = [0.2, 0.2, 0.2]
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    settings.EVENTS_FEED_SETTLE_SECONDS = 0
    return settings
