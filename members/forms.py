"""Forms of the member page's actions in the admin. Each action is one service call."""

from django import forms
from django.utils.translation import gettext_lazy as _

from members.models import Member


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(
            max_length=400,
            label=_("Reason"),
            widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
            help_text=_("Required. Kept with the change, so the next person knows why."),
            **kwargs,
        )

    def clean(self, value):
        value = super().clean(value)
        if not value.strip():
            raise forms.ValidationError(_("Give a reason."))
        return value.strip()


class PointsAdjustForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text=_("Points to add, or to remove with a minus sign (for example -50)."),
    )
    reason = ReasonField()

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("Enter a number of points other than 0."))
        return points


class MemberStatusForm(forms.Form):
    reason = ReasonField()


class MemberEraseForm(forms.Form):
    confirm_external_id = forms.CharField(
        max_length=64,
        label=_("Type the member's external id to confirm"),
        help_text=_("Erasing cannot be undone."),
    )
    reason = ReasonField()

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member

    def clean_confirm_external_id(self):
        value = self.cleaned_data["confirm_external_id"].strip()
        if value != self.member.external_id:
            raise forms.ValidationError(_("This is not the member's external id."))
        return value


class MemberMergeForm(forms.Form):
    target_external_id = forms.CharField(
        max_length=64,
        label=_("External id of the member who stays"),
        help_text=_("This member's points, holds, purchases and vouchers move to that member."),
    )
    confirm_external_id = forms.CharField(
        max_length=64,
        label=_("Type this member's external id to confirm"),
        help_text=_("A merge cannot be undone."),
    )
    reason = ReasonField()

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member

    def clean_confirm_external_id(self):
        value = self.cleaned_data["confirm_external_id"].strip()
        if value != self.member.external_id:
            raise forms.ValidationError(_("This is not the member's external id."))
        return value

    def clean_target_external_id(self):
        value = self.cleaned_data["target_external_id"].strip()
        target = Member.objects.filter(external_id=value).first()
        if target is None:
            raise forms.ValidationError(_("No member has this external id."))
        if target.pk == self.member.pk:
            raise forms.ValidationError(_("A member cannot be merged into themselves."))
        return target
