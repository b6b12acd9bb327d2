"""What the page tests share: user agents and a small reader of rendered HTML."""

from html.parser import HTMLParser

WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; 22081212C Build/TKQ1.220829.002; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 "
    "Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230303 MMWEBID/6973 "
    "MicroMessenger/8.0.34.2340(0x2800225B) WeChat/arm64 Weixin NetType/WIFI "
    "Language/zh_CN ABI/arm64"
)
WECOM_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 wxwork/4.1.10 MicroMessenger/7.0.1 "
    "Language/zh ColorScheme/Light"
)
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict]]:
    """Every start tag of the page, as (name, attributes)."""
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def element(html: str, element_id: str) -> dict | None:
    """The attributes of the element with this id, or None when there is none."""
    for _tag, attrs in tags(html):
        if attrs.get("id") == element_id:
            return attrs
    return None


def buttons(html: str) -> list[str]:
    """The ids of the action buttons and links on a detail page, in order."""
    actions = {"join", "login", "confirm", "check-in", "exit", "cancel"}
    return [
        attrs["id"]
        for tag, attrs in tags(html)
        if tag in ("button", "a") and attrs.get("id") in actions
    ]
