"""The staff admin in Swedish and Danish: the project's own words on its pages (field help,
fieldsets, choices, column headers, the member page, the KPI dashboard, the CSV import) are
translated, not only Django's. The language is the switcher's cookie."""

import pytest
from django.conf import settings
from django.contrib import admin
from django.utils.functional import Promise
from modeltranslation.fields import TranslationField
from rest_framework_api_key.models import AbstractAPIKey

from rewards.models import EarnRule
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def page(client, url: str, language: str, data: dict | None = None) -> str:
    """The page in the language; with data, the page a POST of it shows again (a refused
    form)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.post(url, data) if data is not None else client.get(url)
    assert response.status_code == 200, url
    assert response["Content-Language"] == language
    return response.content.decode()


def test_the_earn_rule_form_reads_in_swedish(manager_client, program):
    html = page(manager_client, "/admin/rewards/earnrule/add/", "sv")
    for swedish in (
        "Vad den ger",
        "När och var",
        "Tomt: medlemmar på alla nivåer.",
        "Kampanjmultiplikator",
    ):
        assert swedish in html
    for english in (
        "What it gives",
        "When and where",
        "Empty: members of every tier.",
        "Campaign multiplier",
    ):
        assert english not in html


def test_the_earn_rule_list_reads_in_danish(manager_client, program):
    EarnRule.objects.create(
        name="Dobbelt kaffe", kind=EarnRule.Kind.CATEGORY_MULTIPLIER, multiplier=2, targets="coffee"
    )
    html = page(manager_client, "/admin/rewards/earnrule/", "da")
    assert "Point den har givet" in html and "Brugt budget" in html
    assert "Points it gave" not in html and "Budget used" not in html


def test_the_member_page_reads_in_swedish(support_client, program):
    member = MemberFactory()
    html = page(support_client, f"/admin/members/member/{member.pk}/change/", "sv")
    for swedish in (
        "Meddelanden (e-post)",
        "Butikens kund-id för den här medlemmen.",
        "Inga meddelanden.",
    ):
        assert swedish in html
    for english in ("Messages (email)", "The shop&#x27;s customer id", "Survey answers show"):
        assert english not in html


def test_the_member_list_filters_read_in_danish(support_client, program):
    MemberFactory()
    html = page(support_client, "/admin/members/member/", "da")
    assert "De seneste 30 dage" in html and "Seneste køb" in html
    assert "In the last 30 days" not in html and "Last purchase" not in html


def test_the_kpi_dashboard_and_the_index_read_in_swedish(manager_client, program):
    dashboard = page(manager_client, "/admin/metrics/dashboard/", "sv")
    assert "Nyckeltalspanel" in dashboard and "Inga nyckeltal har beräknats" in dashboard
    assert "KPI dashboard" not in dashboard and "No KPIs have been computed" not in dashboard
    index = page(manager_client, "/admin/", "sv")
    assert "Öppna nyckeltalspanelen" in index and "Driv programmet" in index
    assert "Open the KPI dashboard" not in index and "Run the program" not in index


def test_the_csv_import_page_reads_in_danish(manager_client, program):
    html = page(manager_client, "/admin/rewards/csvimport/add/", "da")
    assert "Kontrollér og importér" in html and "Hvad filen indeholder" in html
    assert "Check and import" not in html and "What the file holds" not in html


def test_the_earn_rule_change_form_names_its_fields_in_swedish(manager_client, program):
    rule = EarnRule.objects.create(
        name="Dubbel kaffe", kind=EarnRule.Kind.CATEGORY_MULTIPLIER, multiplier=2, targets="coffee"
    )
    html = page(manager_client, f"/admin/rewards/earnrule/{rule.pk}/change/", "sv")
    for swedish in (
        "Ändra intjäningsregel",
        "Prioritet",
        "Tak per dag",
        "Poängbudget",
        "Avmarkera för att stoppa regeln utan att ta bort den.",
        "Tomt: tills vidare.",
    ):
        assert swedish in html
    for english in (
        "Change earn rule",
        "Priority",
        "Cap per day",
        "Budget points",
        "Untick to stop the rule",
        "Empty: open-ended.",
    ):
        assert english not in html


def test_a_refused_earn_rule_says_why_in_danish(manager_client, program):
    rule = {"name": "Velkomst", "description": "", "kind": "signup", "is_active": "on"}
    rule |= {"priority": "0", "targets": "", "bonus_points": "50"}
    html = page(
        manager_client,
        "/admin/rewards/earnrule/add/",
        "da",
        rule | {"multiplier": "2", "cap_per_day": "100"},
    )
    assert "En velkomstbonus bruger ikke nogen multiplikator" in html
    assert "En velkomstbonus gives én gang" in html
    assert "ignores a multiplier" not in html and "is given once" not in html
    assert not EarnRule.objects.exists()


def test_the_cap_a_danish_rule_could_never_reach_is_named_with_its_numbers(manager_client, program):
    rule = {"name": "Kaffe", "description": "", "kind": "category", "is_active": "on"}
    rule |= {"priority": "0", "multiplier": "2", "targets": "coffee"}
    html = page(
        manager_client,
        "/admin/rewards/earnrule/add/",
        "da",
        rule | {"cap_per_day": "600", "cap_per_month": "500"},
    )
    assert "Loftet pr. dag (600) er højere end loftet pr. måned (500)" in html
    assert "could never be reached" not in html


# rest_framework_api_key's own fields (name, prefix, revoked, ...) keep the package's English.
API_KEY_FIELDS = {field.name for field in AbstractAPIKey._meta.fields}


def test_every_field_staff_see_in_the_admin_has_a_translatable_name():
    """A field's name in column headers, form labels and filters comes from its verbose
    name: a field added without one would show English in every language. Historical models
    and the per-language copies derive theirs from the field they copy."""
    models = set()
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in {"members", "rewards", "metrics", "events"}:
            models.add(model)
            models.update(inline.model for inline in model_admin.inlines)
    untranslated = []
    for model in models:
        opts = model._meta
        for name in ("verbose_name", "verbose_name_plural"):
            if not isinstance(getattr(opts, name), Promise):
                untranslated.append(f"{opts.label} {name}")
        for field in opts.get_fields():
            if field.auto_created or not (field.concrete or field.many_to_many):
                continue
            if isinstance(field, TranslationField):
                continue
            if issubclass(model, AbstractAPIKey) and field.name in API_KEY_FIELDS:
                continue
            if not isinstance(field.verbose_name, Promise):
                untranslated.append(f"{opts.label}.{field.name}")
    assert not untranslated, untranslated
