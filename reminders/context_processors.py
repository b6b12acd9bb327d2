from .wechat.useragent import Browser, browser_of, in_wechat


def wechat(request):
    """`in_wechat` for templates, and `in_wecom` to tell WeCom users to switch."""
    inside = in_wechat(request)
    agent = request.headers.get("User-Agent", "")
    return {
        "in_wechat": inside,
        "in_wecom": not inside and browser_of(agent) is Browser.WECOM,
    }
