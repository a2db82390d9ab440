"""A checklist import is capped in bytes and items, and streams its file (issue 20, item 6)."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from executions.models import Task

pytestmark = pytest.mark.django_db

UPLOAD = "/admin/executions/task/upload-checklist/"


def checklist(items: int) -> str:
    return "".join(f"- [ ] Task number {i}\n" for i in range(items))


def import_tasks(path) -> CommandError:
    with pytest.raises(CommandError) as raised:
        call_command("import_tasks", str(path))
    assert raised.value.returncode == 2
    return raised.value


def test_the_defaults_are_one_megabyte_and_a_thousand_items(settings):
    assert (settings.IMPORT_MAX_BYTES, settings.IMPORT_MAX_ITEMS) == (1024 * 1024, 1000)


def test_a_file_over_the_size_cap_is_refused_and_imports_nothing(tmp_path):
    big = tmp_path / "big.md"
    big.write_text(checklist(10) + "x" * (1024 * 1024))

    error = import_tasks(big)

    assert "larger than the 1 MB limit (IMPORT_MAX_BYTES)" in str(error)
    assert not Task.objects.exists()


def test_reading_dev_zero_stops_at_the_cap(settings):
    started = time.monotonic()

    error = import_tasks("/dev/zero")

    assert "limit (IMPORT_MAX_BYTES)" in str(error)
    assert time.monotonic() - started < 5


def test_more_items_than_the_cap_are_refused_and_none_imported(tmp_path, settings):
    many = tmp_path / "many.md"
    many.write_text(checklist(1001))

    error = import_tasks(many)

    assert "more than 1,000 items (IMPORT_MAX_ITEMS)" in str(error)
    assert not Task.objects.exists()


def test_exactly_the_cap_is_imported(tmp_path, settings):
    settings.IMPORT_MAX_ITEMS = 20
    ok = tmp_path / "ok.md"
    ok.write_text(checklist(20))

    call_command("import_tasks", str(ok))

    assert Task.objects.count() == 20


def test_the_admin_upload_refuses_a_file_over_the_cap(admin_client, settings):
    settings.IMPORT_MAX_BYTES = 1000
    upload = SimpleUploadedFile("big.md", checklist(100).encode(), content_type="text/markdown")

    page = admin_client.post(UPLOAD, {"checklist": upload}).content.decode()

    assert "larger than the 1,000-byte limit (IMPORT_MAX_BYTES)" in page
    assert not Task.objects.exists()


def test_the_admin_upload_refuses_pasted_text_over_the_cap(admin_client, settings):
    settings.IMPORT_MAX_BYTES = 1000

    page = admin_client.post(UPLOAD, {"text": checklist(100)}).content.decode()

    assert "larger than the 1,000-byte limit (IMPORT_MAX_BYTES)" in page
    assert not Task.objects.exists()


def test_the_admin_upload_refuses_too_many_items(admin_client, settings):
    settings.IMPORT_MAX_ITEMS = 5
    upload = SimpleUploadedFile("many.md", checklist(6).encode(), content_type="text/markdown")

    page = admin_client.post(UPLOAD, {"checklist": upload}).content.decode()

    assert "more than 5 items (IMPORT_MAX_ITEMS)" in page
    assert not Task.objects.exists()
