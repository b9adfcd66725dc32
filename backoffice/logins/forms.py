from typing import Any

from django import forms


class CodeInput(forms.TextInput):
    """A code field that comes back empty after a wrong code: the next one is typed afresh."""

    def format_value(self, value: Any) -> None:
        return None


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        widget=CodeInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "size": 12}),
    )
