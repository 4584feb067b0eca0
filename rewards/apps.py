from django.apps import AppConfig
from django.apps import apps as django_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = _("Points and rewards")

    def ready(self):
        from rewards.jobs import rewards_jobs_register

        rewards_jobs_register()
        program_language_watch()
        from members.personal_data import personal_data_register
        from rewards.gdpr import member_rewards_erase, member_rewards_export

        personal_data_register(exporter=member_rewards_export, eraser=member_rewards_erase)
        # Emails to members are built from events: registers the events consumer.
        import rewards.services.messages  # noqa: F401

        # After every migrate (all apps), so the jobs other apps register are there too.
        post_migrate.connect(nightly_schedules_install_on_migrate, sender=self)


def nightly_schedules_install_on_migrate(sender, using, apps=None, **kwargs):
    # `flush` (between transactional tests) sends post_migrate without `apps`.
    try:
        (apps or django_apps).get_model("django_celery_beat", "PeriodicTask")
    except LookupError:
        return  # django-celery-beat's tables are not migrated in this database (yet)
    from rewards.services.nightly import nightly_schedules_install

    nightly_schedules_install(using=using)


def program_language_watch():
    """The program's default language for requests that name none (loyalty_engine.i18n):
    read at most once a minute per process, and set at once when the program is saved."""
    from django.db import DatabaseError
    from django.db.models.signals import post_save

    from loyalty_engine import i18n
    from rewards.models import Program

    def read() -> str | None:
        try:
            return Program.objects.filter(pk=1).values_list("default_language", flat=True).first()
        except DatabaseError:
            # Not migrated yet (a first `migrate`, a schema download): the default language.
            return None

    def saved(sender, instance, **kwargs):
        i18n.program_language_set(instance.default_language)

    i18n.program_language_loader(read)
    post_save.connect(saved, sender=Program, dispatch_uid="program_language")
