from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person working in the back-office. Our own model, so fields can be added later."""

    class Meta:
        db_table = "backoffice_user"
