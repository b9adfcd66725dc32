from django.urls import path

from backoffice.logins import views

app_name = "logins"
urlpatterns = [
    path("", views.status, name="status"),
    path("code/", views.verify, name="verify"),
    path("set-up/", views.enrol, name="enrol"),
    path("recovery-codes/", views.recovery_codes, name="recovery_codes"),
]
