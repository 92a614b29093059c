"""The generated pages in a real browser: Debian's Chromium driven by Playwright,
against the service under gunicorn with its production config. Nothing is
downloaded: Playwright launches /usr/bin/chromium.

Set SCREENSHOTS=docs/screenshots to keep the screenshots the README shows.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, Project, gunicorn
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Records every CSP violation the page reports, before any page script runs.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Chromium is not installed: `apt-get install chromium` (CI does this)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            # Root needs --no-sandbox; the rest keep Chromium off the network.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    page.add_init_script(CSP_LISTENER)
    page.console_messages: list[str] = []  # type: ignore[misc]
    page.on("console", lambda message: page.console_messages.append(message.text))
    yield page
    context.close()


def screenshots_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ["SCREENSHOTS"]) if "SCREENSHOTS" in os.environ else tmp_path
    folder = folder if folder.is_absolute() else ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def localhost(base: str) -> str:
    """Browsers keep the production config's Secure cookies over plain HTTP
    only for localhost, which they treat as a secure context."""
    return base.replace("127.0.0.1", "localhost")


def assert_no_csp_violation(page: Page) -> None:
    assert page.evaluate("window.__cspViolations") == []
    reported = [text for text in page.console_messages if "Content Security Policy" in text]
    assert reported == []


def test_register_log_in_reach_account_log_out(
    default_project: Project, production: dict[str, str], page: Page, tmp_path: Path
) -> None:
    shots = screenshots_folder(tmp_path)
    with gunicorn(default_project, production) as base:
        base = localhost(base)
        page.goto(f"{base}/")
        assert page.title() == "Home · Flask Service"
        # The stylesheet loaded under the policy: the layout is styled.
        assert page.eval_on_selector("body", "b => getComputedStyle(b).display") == "flex"
        page.screenshot(path=shots / "home.png")
        assert_no_csp_violation(page)

        page.click("text=Create an account")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "correct horse battery")
        page.fill("input[name=confirm]", "correct horse battery")
        page.screenshot(path=shots / "register.png")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/auth/login")
        assert "your account is ready" in page.inner_text(".flash")

        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.click("nav >> text=ada")
        page.wait_for_url(f"{base}/auth/account")
        assert page.inner_text("h1") == "ada"
        page.screenshot(path=shots / "account.png")
        assert_no_csp_violation(page)

        # A password change on the account page, which keeps this session.
        page.fill("input[name=current]", "correct horse battery")
        page.fill("input[name=password]", "a new horse battery")
        page.fill("input[name=confirm]", "a new horse battery")
        page.click("text=Change password")
        page.wait_for_url(f"{base}/auth/account")
        assert "Password changed." in page.inner_text(".flash")
        assert_no_csp_violation(page)

        page.click("text=Log out")
        page.wait_for_url(f"{base}/")
        assert "You have been logged out on every device." in page.inner_text(".flash")
        page.goto(f"{base}/auth/account")
        assert page.url.startswith(f"{base}/auth/login?next=")
        assert_no_csp_violation(page)


def test_a_wrong_password_is_refused_in_the_browser(
    default_project: Project, production: dict[str, str], page: Page
) -> None:
    with gunicorn(default_project, production) as base:
        page.goto(f"{localhost(base)}/auth/login")
        page.fill("input[name=username]", "nobody")
        page.fill("input[name=password]", "wrong password")
        page.click("button[type=submit]")
        assert "Invalid username or password." in page.inner_text(".flash")
        assert_no_csp_violation(page)


def test_api_docs_and_a_token_from_the_account_page_work_offline(
    default_project: Project, production: dict[str, str], page: Page, tmp_path: Path
) -> None:
    """Swagger UI renders from the service's own assets under its CSP, with no
    request to any other host, and "Try it out" works with a token created on
    the account page."""
    shots = screenshots_folder(tmp_path)
    default_project.run(
        "flask",
        "auth",
        "create-user",
        "grace",
        "--password",
        "correct horse battery",
        env=production,
    )
    with gunicorn(default_project, production) as base:
        base = localhost(base)
        elsewhere: list[str] = []
        page.on(
            "request",
            lambda request: None if request.url.startswith(base) else elsewhere.append(request.url),
        )
        page.goto(f"{base}/auth/login")
        page.fill("input[name=username]", "grace")
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        page.goto(f"{base}/auth/account")
        page.fill("input[name=name]", "browser test")
        page.select_option("select[name=scope]", "read-write")
        page.click("text=Create a token")
        token = page.inner_text("#new-token")
        assert token.startswith("pat_")
        page.screenshot(path=shots / "token.png")
        assert_no_csp_violation(page)

        page.goto(f"{base}/api/docs")
        # Swagger UI names each operation's block after its tag and operationId
        # (it shows the summary, not the operationId, as text).
        list_items = "#operations-items-list_items"
        page.wait_for_selector(list_items, timeout=15_000)
        assert page.locator(".opblock").count() == 5
        page.screenshot(path=shots / "api-docs.png", full_page=True)
        # The session's own "Try it out": a read from the logged-in browser.
        page.click(f"{list_items} .opblock-summary")
        page.click("text=Try it out")
        page.click("text=Execute")
        # The live response's row (the table's header row says "Code").
        status = ".live-responses-table tr.response .response-col_status"
        page.wait_for_selector(status)
        assert page.inner_text(status).strip() == "200"

        # Then as a machine client would: the token, through "Authorize".
        sent: list[dict[str, str]] = []
        page.on(
            "request",
            lambda request: (
                sent.append(request.headers)
                if request.method == "POST" and request.url == f"{base}/api/v1/items"
                else None
            ),
        )
        page.click("button.authorize")
        bearer = page.locator(".auth-container", has_text="bearerToken")
        bearer.locator("input").fill(token)
        bearer.locator("button.authorize").click()
        page.click("button.btn-done")
        create_item = "#operations-items-create_item"
        page.click(f"{create_item} .opblock-summary")
        page.click(f"{create_item} >> text=Try it out")
        page.click(f"{create_item} >> text=Execute")
        status = f"{create_item} .live-responses-table tr.response .response-col_status"
        page.wait_for_selector(status)
        assert page.inner_text(status).strip() == "201"
        # The token, and no CSRF token: bearer requests need none.
        assert [headers.get("authorization") for headers in sent] == [f"Bearer {token}"]
        assert "x-csrftoken" not in sent[0]
        assert_no_csp_violation(page)
        assert elsewhere == []
