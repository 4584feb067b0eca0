"""The translations are complete: every message the code asks gettext for has a Swedish and
a Danish translation in locale/, none is fuzzy, and every plural form is filled in.

Two extractions check it: Babel's, of the apps' Python, and Django's own makemessages, which
also reads the templates ({% translate %}, {% blocktranslate %}) the staff admin and the
member's e-mails are made of."""

import contextlib
import shutil
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(settings.BASE_DIR)
APPS = ["loyalty_engine", "members", "rewards", "metrics"]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
}
TRANSLATED = [code for code, _ in settings.LANGUAGES if code != "en"]


def catalog(language: str):
    with (ROOT / "locale" / language / "LC_MESSAGES" / "django.po").open("rb") as po:
        return read_po(po, locale=language)


def project_messages() -> set[tuple[str, str | None]]:
    """The singular msgid of every gettext call in the apps' Python code, with its context
    (pgettext), which a catalog keys it by too."""
    found = set()
    for app in APPS:
        for _, _, message, _, context in extract_from_dir(
            ROOT / app,
            method_map=[("**/migrations/**", "ignore"), ("**.py", "python")],
            keywords=KEYWORDS,
        ):
            found.add((message[0] if isinstance(message, tuple) else message, context))
    return found


@pytest.fixture(scope="module")
def makemessages_catalogs(tmp_path_factory) -> dict:
    """The catalogs as `manage.py makemessages -l sv -l da --no-obsolete` would leave them,
    made in a copy: locale/ is copied and the apps are linked into a temporary directory, so
    the real .po files stay as they are. msgmerge leaves a message the catalogs lack empty,
    and one whose English changed fuzzy."""
    workdir = tmp_path_factory.mktemp("makemessages")
    shutil.copytree(ROOT / "locale", workdir / "locale", ignore=shutil.ignore_patterns("*.mo*"))
    for app in APPS:
        (workdir / app).symlink_to(ROOT / app, target_is_directory=True)
    with (
        contextlib.chdir(workdir),
        override_settings(LOCALE_PATHS=[workdir / "locale"]),
    ):
        call_command(
            "makemessages",
            locale=TRANSLATED,
            symlinks=True,
            no_obsolete=True,
            no_location=True,
            ignore_patterns=["*/migrations/*"],
            verbosity=0,
        )
    catalogs = {}
    for language in TRANSLATED:
        with (workdir / "locale" / language / "LC_MESSAGES" / "django.po").open("rb") as po:
            catalogs[language] = read_po(po, locale=language)
    return catalogs


def test_makemessages_reads_the_templates_too(makemessages_catalogs):
    ids = {message.id for message in makemessages_catalogs["sv"]}
    # The member page (a template), the KPI dashboard (a template) and a model's choice.
    assert "Lots with points left (spent soonest expiry first)" in ids
    assert (
        "Ledger (newest first, %(entries)s entry)",
        "Ledger (newest first, %(entries)s entries)",
    ) in ids
    assert "Suspended" in ids


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_makemessages_finds_is_translated(makemessages_catalogs, language):
    missing, fuzzy = [], []
    for message in makemessages_catalogs[language]:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            fuzzy.append(message.id)
        elif not all(strings):
            missing.append(message.id)
    assert not missing and not fuzzy, (
        f"Run `manage.py makemessages -l {language} --ignore='.venv/*' --no-location "
        f"--no-obsolete` and translate. Untranslated in {language}: {missing}; "
        f"fuzzy (the English changed; check the translation): {fuzzy}"
    )


def test_the_extraction_finds_the_project_messages():
    messages = {message for message, _ in project_messages()}
    assert "The member does not have enough available points." in messages
    assert "Earned %(points)s point on order %(order)s (%(amount)s)." in messages


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_project_message_has_a_translation(language):
    translations = catalog(language)
    missing = sorted(
        message
        for message, context in project_messages()
        if translations.get(message, context=context) is None
    )
    assert not missing, (
        f"No {language} translation (run `manage.py makemessages -l {language} "
        f"--ignore='.venv/*' --no-location` and translate): {missing}"
    )


@pytest.mark.parametrize("language", TRANSLATED)
def test_no_translation_is_empty_or_fuzzy(language):
    translations = catalog(language)
    assert translations.plural_forms.startswith("nplurals=2;")
    bad = []
    for message in translations:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            bad.append(message.id)
    assert not bad, f"Fuzzy or untranslated in {language}: {bad}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_counts_have_both_plural_forms(language):
    plurals = [m for m in catalog(language) if isinstance(m.id, tuple)]
    assert len(plurals) > 20
    for message in plurals:
        assert len(message.string) == 2 and all(message.string), message.id


def test_format_placeholders_are_kept_in_each_translation():
    import re

    placeholder = re.compile(r"%\(\w+\)[sdr]")
    for language in TRANSLATED:
        for message in catalog(language):
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            wanted = set(placeholder.findall(ids[-1]))
            for string in strings:
                assert set(placeholder.findall(string)) <= wanted | set(
                    placeholder.findall(ids[0])
                ), (language, message.id)
                # The plural form may leave out the count (Swedish "poäng" is both).
                assert set(placeholder.findall(string)) >= wanted - {"%(points)s", "%(count)s"}
