from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rewards.models import CsvImport
from rewards.services.import_rows import COLUMNS

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


def columns_help(kind: str) -> str:
    spec = COLUMNS[kind]
    return _("%(required)s (optional: %(optional)s)") % {
        "required": ", ".join(spec["required"]),
        "optional": ", ".join(spec["optional"]),
    }


class CsvImportUploadForm(forms.Form):
    kind = forms.ChoiceField(
        choices=CsvImport.Kind.choices, label=gettext_lazy("What the file holds")
    )
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("UTF-8, comma-separated, with a header row naming the columns."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                _(
                    "The file is larger than %(megabytes)s MB: split it, "
                    "or run `manage.py import_csv` on the server."
                )
                % {"megabytes": MAX_UPLOAD_BYTES // (1024 * 1024)}
            )
        content = upload.read()
        try:
            content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(
                _("The file is not UTF-8 text (byte %(byte)s): save it as CSV UTF-8.")
                % {"byte": error.start}
            ) from None
        return upload.name, content
