"""The WeChat Official Account platform: the API client, the callback signature,
the in-app browser check and a local simulator of the API.

`client` is the only code that talks HTTP to WeChat. Nothing in this package
touches the database.
"""


def shorten(openid: str | None) -> str:
    """An openid cut down for a log line: enough to tell people apart, not to reuse.

    Log lines travel further than the database (log shippers, bug reports), so
    they never carry a full openid.
    """
    if not openid:
        return "-"
    if len(openid) <= 8:
        return f"{openid[:2]}..."
    return f"{openid[:4]}...{openid[-4:]}"
