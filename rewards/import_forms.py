from django import forms

from rewards.models import CsvImport
from rewards.services.import_rows import COLUMNS

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


def columns_help(kind: str) -> str:
    spec = COLUMNS[kind]
    return f"{', '.join(spec['required'])} (optional: {', '.join(spec['optional'])})"


class CsvImportUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=CsvImport.Kind.choices, label="What the file holds")
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, comma-separated, with a header row naming the columns.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: split it, "
                "or run `manage.py import_csv` on the server."
            )
        content = upload.read()
        try:
            content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(
                f"The file is not UTF-8 text (byte {error.start}): save it as CSV UTF-8."
            ) from None
        return upload.name, content
