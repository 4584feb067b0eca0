"""Forms of the member page's actions in the admin. Each action is one service call."""

from django import forms

from members.models import Member


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(
            max_length=400,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
            help_text="Required. Kept with the change, so the next person knows why.",
            **kwargs,
        )

    def clean(self, value):
        value = super().clean(value)
        if not value.strip():
            raise forms.ValidationError("Give a reason.")
        return value.strip()


class PointsAdjustForm(forms.Form):
    points = forms.IntegerField(
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text="Points to add, or to remove with a minus sign (for example -50).",
    )
    reason = ReasonField()

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError("Enter a number of points other than 0.")
        return points


class MemberStatusForm(forms.Form):
    reason = ReasonField()


class MemberEraseForm(forms.Form):
    confirm_external_id = forms.CharField(
        max_length=64,
        label="Type the member's external id to confirm",
        help_text="Erasing cannot be undone.",
    )
    reason = ReasonField()

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member

    def clean_confirm_external_id(self):
        value = self.cleaned_data["confirm_external_id"].strip()
        if value != self.member.external_id:
            raise forms.ValidationError("This is not the member's external id.")
        return value
