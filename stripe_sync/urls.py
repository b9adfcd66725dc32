from django.urls import path

from stripe_sync.webhooks import stripe_webhook

urlpatterns = [path("webhook/", stripe_webhook, name="stripe-webhook")]
