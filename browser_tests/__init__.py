"""Browser tests: the admin in headless Chromium against a live server (`make test-browser`)."""
