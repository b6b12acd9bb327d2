"""Pages that went wrong still speak Chinese and lead back to the activities."""

from django.test import Client

from config import views


def test_an_unknown_page_says_so_in_chinese(client, db):
    response = client.get("/prs/999999")

    assert response.status_code == 404
    assert "页面不存在" in response.text
    assert 'href="/"' in response.text


def test_an_expired_form_asks_to_reload(clock, make_pr, participant):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(participant)

    response = browser.post(f"/prs/{make_pr().pk}/join")

    assert response.status_code == 403
    assert "页面已过期" in response.text


def test_a_server_error_page_needs_no_request_context(rf):
    response = views.server_error(rf.get("/prs/1"))

    assert response.status_code == 500
    assert "出错了" in response.text


def test_the_api_keeps_answering_errors_in_json(client, db):
    response = client.get("/api/prs/999999")

    assert response.json()["error"]["code"] == "not_found"


def test_a_malformed_multipart_post_to_an_unknown_page_is_a_404(client, db):
    response = client.post(
        "/no/such/page", b"<data>0</data>", content_type="multipart/form-data"
    )

    assert response.status_code == 404
    assert "weui-msg" in response.content.decode()
