from django.urls import path

from . import api, callback, login

app_name = "reminders"

urlpatterns = [
    path("auth/wechat/login", login.start, name="login"),
    path("auth/wechat/callback", login.callback, name="login-callback"),
    path("auth/logout", login.logout, name="logout"),
    path("api/wechat/reminders/subscription", api.subscription, name="subscription"),
    path("wechat/callback", callback.callback, name="wechat-callback"),
]
