from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape


def test_home_page_renders(app: Flask, client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert f"<title>Home · {escape(app.config['APP_NAME'])}</title>" in page
    assert "css/app.css" in page
    assert "css/site.css" in page


def test_static_files_are_served(client: FlaskClient) -> None:
    assert client.get("/static/css/app.css").status_code == 200
    assert client.get("/static/css/site.css").status_code == 200
    assert client.get("/static/favicon.svg").status_code == 200
