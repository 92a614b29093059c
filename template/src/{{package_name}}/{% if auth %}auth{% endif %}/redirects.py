from urllib.parse import urlsplit


def is_safe_redirect(target: str) -> bool:
    """Whether ``target`` is a path on this site, safe to redirect to after login.

    Browsers ignore tabs and newlines in URLs and read backslashes as slashes,
    so "/\\evil.com" and "/\\t/evil.com" would leave the site just as
    "//evil.com" does: only plain absolute paths pass.
    """
    if not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or " " in target or not target.isprintable():
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
