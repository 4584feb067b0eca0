from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members and shops")

    def ready(self):
        from members.exports import member_profile_export
        from members.personal_data import personal_data_register
        from members.services import member_events_erase

        personal_data_register(exporter=member_profile_export, eraser=member_events_erase)
