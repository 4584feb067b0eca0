from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin


class AuditedAdmin(SimpleHistoryAdmin):
    """An admin with the audit trail's History page. The trail is read-only: a past version
    can be viewed, never saved back (that would skip the services and undo erasures);
    SIMPLE_HISTORY_REVERT_DISABLED hides the button, this refuses the POST as well."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
