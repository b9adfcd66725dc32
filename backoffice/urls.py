from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # The second factor of signing in (backoffice/logins/), before the admin's own URLs.
    path("admin/two-factor/", include("backoffice.logins.urls")),
    path("admin/", admin.site.urls),
    path("stripe/", include("stripe_sync.urls")),
]

# The error pages in the admin's look, saying what happened and the way back
# (backoffice/errors.py); a 500 is Django's own handler with templates/500.html.
handler400 = "backoffice.errors.bad_request"
handler403 = "backoffice.errors.permission_denied"
handler404 = "backoffice.errors.page_not_found"
