from pathlib import Path

from flask import Flask, url_for
from flask.testing import FlaskClient


def test_static_urls_carry_the_content_version(app: Flask) -> None:
    with app.test_request_context():
        url = url_for("static", filename="css/app.css")
    path, _, version = url.partition("?v=")
    assert path == "/static/css/app.css"
    assert len(version) == 12


def test_a_changed_file_gets_a_new_url(app: Flask, tmp_path: Path) -> None:
    app.static_folder = str(tmp_path)
    style = tmp_path / "site.css"
    style.write_text("body { color: black; }")
    with app.test_request_context():
        before = url_for("static", filename="site.css")
        style.write_text("body { color: navy; }")
        after = url_for("static", filename="site.css")
    assert before != after


def test_missing_files_and_other_endpoints_get_no_version(app: Flask) -> None:
    with app.test_request_context():
        assert url_for("static", filename="missing.css") == "/static/missing.css"
        assert url_for("static", filename="../config.py") == "/static/../config.py"
        assert url_for("static", filename="css/app.css", v="mine").endswith("?v=mine")
        assert "?v=" not in url_for("health.health")
        app.static_folder = None
        assert url_for("static", filename="css/app.css") == "/static/css/app.css"


def test_versioned_static_urls_are_served(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    version = page.split('href="/static/css/app.css?v=', 1)[1].split('"', 1)[0]
    response = client.get(f"/static/css/app.css?v={version}")
    assert response.status_code == 200
    assert b"body" in response.data
