from django.apps import AppConfig
from django.apps import apps as django_apps
from django.db.models.signals import post_migrate


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Points and rewards"

    def ready(self):
        from rewards.jobs import rewards_jobs_register

        rewards_jobs_register()
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
