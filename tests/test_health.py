from django.db import DatabaseError

from config import views


def test_healthz_answers_200_when_the_database_answers(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


class BrokenCursor:
    def __enter__(self):
        raise DatabaseError("connection refused")

    def __exit__(self, *exc):
        return False


class BrokenConnection:
    def cursor(self):
        return BrokenCursor()


def test_healthz_answers_503_when_the_database_does_not(rf, monkeypatch):
    monkeypatch.setattr(views, "connection", BrokenConnection())

    response = views.healthz(rf.get("/healthz"))

    assert response.status_code == 503
