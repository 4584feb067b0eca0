from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Members and shops"

    def ready(self):
        from members.exports import member_profile_export
        from members.personal_data import personal_data_register

        personal_data_register(exporter=member_profile_export)
