"""Hostile input the fuzzer does not draw: bodies too large, the wrong media type,
bytes that are not UTF-8, numbers too large for any column."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from prs.models import PartnerRequest, Slot
from tests.prs.test_api import VALID, assert_error


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    clock, settings, api, organiser
):
    body = json.dumps(
        VALID | {"description": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
    )

    response = api(organiser).post("/api/prs", raw=body)

    assert_error(response, 400, "bad_request")
    assert not PartnerRequest.objects.exists()


NEW_PR_FORM = {
    "title": "夜跑",
    "location": "奥森南门",
    "start_at": "2026-12-02T19:30",
    "capacity": "6",
}


def test_a_multipart_body_over_the_limit_is_refused_before_it_is_read(
    client, clock, settings, organiser
):
    client.force_login(organiser)
    upload = SimpleUploadedFile("big.bin", b"x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE)

    response = client.post("/prs/new", NEW_PR_FORM | {"upload": upload})

    assert response.status_code == 400
    assert not PartnerRequest.objects.exists()


def test_a_file_in_a_small_multipart_body_is_dropped_unread(client, clock, organiser):
    client.force_login(organiser)
    upload = SimpleUploadedFile("small.bin", b"x" * 10_000)

    response = client.post("/prs/new", NEW_PR_FORM | {"upload": upload})

    assert response.status_code == 302
    assert PartnerRequest.objects.get().title == "夜跑"
    assert not response.wsgi_request.FILES


def test_a_field_far_over_its_length_is_refused_naming_it(clock, api, organiser):
    response = api(organiser).post("/api/prs", VALID | {"title": "x" * 100_000})

    assert_error(response, 400, "invalid_field")
    assert response.json()["error"]["field"] == "title"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/merge-patch+json",
        "",
    ],
)
def test_a_body_that_is_not_json_by_its_type_is_refused(
    clock, api, organiser, content_type
):
    response = api(organiser).post(
        "/api/prs", raw=json.dumps(VALID), content_type=content_type
    )

    assert_error(response, 400, "unsupported_media_type")


def test_json_with_a_charset_parameter_is_accepted(clock, api, organiser):
    response = api(organiser).post(
        "/api/prs", VALID, content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": "\xc3\x28"}',  # a broken two-byte sequence
        b'{"title": "\xed\xa0\x80"}',  # a UTF-16 surrogate encoded as UTF-8
        b"\xff\xfe{\x00}\x00",  # UTF-16 with its byte-order mark
        # Lone surrogates as JSON escapes, in bodies that are otherwise valid.
        json.dumps(VALID | {"title": "\ud800"}).encode(),
        json.dumps(VALID | {"location": "a\udfffb"}).encode(),
        json.dumps(VALID | {"description": "\ud83d"}).encode(),
    ],
    ids=["broken", "surrogate-bytes", "utf16", "in-title", "in-location", "in-text"],
)
def test_text_that_is_not_utf8_is_refused(clock, api, organiser, raw):
    response = api(organiser).post("/api/prs", raw=raw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_json", "invalid_field"}
    assert not PartnerRequest.objects.exists()


@pytest.mark.parametrize("pr_id", ["9223372036854775808", "1" + "0" * 400])
def test_an_id_past_any_column_is_not_found(db, api, participant, pr_id):
    assert_error(api().get(f"/api/prs/{pr_id}"), 404, "not_found")
    assert_error(api(participant).post(f"/api/prs/{pr_id}/join"), 404, "not_found")
    assert not Slot.objects.exists()


@pytest.mark.parametrize("pr_id", ["9223372036854775808", "1" + "0" * 400])
def test_pages_of_an_id_past_any_column_are_not_found(client, participant, pr_id):
    client.force_login(participant)

    assert client.get(f"/prs/{pr_id}").status_code == 404
    assert client.get(f"/prs/{pr_id}/live").status_code == 404
    assert client.post(f"/prs/{pr_id}/join").status_code == 404


@pytest.mark.parametrize("capacity", [2**63, -(2**63) - 1, 10**400])
def test_a_capacity_past_any_column_is_refused(clock, api, organiser, capacity):
    raw = json.dumps(VALID).replace('"capacity": 6', f'"capacity": {capacity}')

    response = api(organiser).post("/api/prs", raw=raw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_field", "invalid_json"}


def test_a_poll_with_bytes_that_are_not_utf8_is_refused(client, clock, make_pr):
    pr = make_pr()

    response = client.get(f"/prs/{pr.pk}/live?round=%ff%fe&n=1")

    assert response.status_code == 400
