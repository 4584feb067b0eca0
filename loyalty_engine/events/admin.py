"""Staff screens for webhooks: endpoints, the delivery log with every attempt, the outbox.
Actions call services."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from loyalty_engine.events import services
from loyalty_engine.events.models import Attempt, Delivery, Event, WebhookEndpoint
from loyalty_engine.events.types import EVENT_TYPES
from loyalty_engine.events.urls_check import webhook_url_check


def _resent(count: int) -> str:
    return ngettext(
        "%(count)d delivery will be sent again.",
        "%(count)d deliveries will be sent again.",
        count,
    ) % {"count": count}


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=[(name, name) for name in EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every event type."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "is_active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            return webhook_url_check(url)
        except ValidationError as error:
            raise forms.ValidationError(error.messages[0], code=error.code) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "description", "is_active", "types", "paused_reason", "failing_since"]
    readonly_fields = ["paused_reason", "failing_since", "created_at"]
    actions = ["resend_failed", "resume"]

    @admin.display(description=gettext_lazy("event types"))
    def types(self, endpoint):
        return ", ".join(endpoint.event_types) or _("all")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.webhook_endpoint_create(
            url=obj.url,
            event_types=form.cleaned_data["event_types"],
            description=obj.description,
            is_active=obj.is_active,
        )
        obj.pk = created.pk
        messages.warning(
            request,
            _("Signing secret of this endpoint, shown once: %(secret)s")
            % {"secret": created.secret},
        )

    @admin.action(description=gettext_lazy("Resend all failed deliveries"))
    def resend_failed(self, request, queryset):
        count = sum(services.endpoint_failed_resend(endpoint=endpoint) for endpoint in queryset)
        self.message_user(request, _resent(count))

    @admin.action(description=gettext_lazy("Resume (activate) the endpoints"))
    def resume(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_resume(endpoint=endpoint)
        self.message_user(request, _("Resumed."))


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ["attempted_at", "status_code", "latency_ms", "response_start", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "endpoint"]
    list_select_related = ["event", "endpoint"]
    readonly_fields = [
        "event",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "created_at",
        "body",
    ]
    exclude = []
    inlines = [AttemptInline]
    actions = ["resend"]

    @admin.display(description=gettext_lazy("event"))
    def event_id(self, delivery):
        return delivery.event.public_id

    @admin.display(description=gettext_lazy("type"))
    def event_type(self, delivery):
        return delivery.event.type

    @admin.display(description=gettext_lazy("body"))
    def body(self, delivery):
        return format_html(
            "<pre>{}</pre>", json.dumps(services.event_envelope(delivery.event), indent=2)
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=gettext_lazy("Resend the selected deliveries"))
    def resend(self, request, queryset):
        count = services.deliveries_resend(delivery_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, _resent(count))


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["seq", "type", "member", "occurred_at", "created_at", "dispatched_at"]
    list_filter = ["type"]
    list_select_related = ["member"]
    search_fields = ["=member__external_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
