"""The CSV import in the admin: an upload page, then the import's own page, which shows
its progress while it runs (refreshing itself) and its report once done."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rewards.import_forms import CsvImportUploadForm, columns_help
from rewards.models import CsvImport
from rewards.services.imports import csv_import_create


@admin.register(CsvImport)
class CsvImportAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "file_name",
        "status",
        "progress",
        "created_count",
        "unchanged_count",
        "error_count",
        "created_by",
    )
    list_filter = ("kind", "status")
    search_fields = ("file_name",)
    list_select_related = ("created_by",)
    ordering = ("-created_at", "-id")

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, csv_import: CsvImport):
        return format_html(
            '<progress max="100" value="{}"></progress> {}%',
            csv_import.percent_done,
            csv_import.percent_done,
        )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        # Not the admin's model form: the upload becomes an import through the service,
        # outside the admin's transaction (the import's rows are durable writes).
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CsvImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            file_name, content = form.cleaned_data["file"]
            csv_import = csv_import_create(
                kind=form.cleaned_data["kind"],
                file_name=file_name,
                content=content,
                staff_user=request.user,
            )
            return HttpResponseRedirect(
                reverse("admin:rewards_csvimport_change", args=[csv_import.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import members or purchases from a CSV file"),
            "form": form,
            "columns": {kind.label: columns_help(kind.value) for kind in CsvImport.Kind},
        }
        return TemplateResponse(request, "admin/rewards/csvimport/upload.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        csv_import = self.get_object(request, unquote(object_id))
        if csv_import is None:
            raise Http404("No import has this id.")
        if not self.has_view_permission(request, csv_import):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": str(csv_import),
            "original": csv_import,
            "csv_import": csv_import,
        }
        return TemplateResponse(request, "admin/rewards/csvimport/report.html", context)
