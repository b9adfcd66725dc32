import pytest
from django.core.exceptions import ValidationError

from customers.models import TaxId
from customers.tax_ids import TAX_ID_FORMATS, tax_id_country, tax_id_normalize
from customers.tests.factories import AccountFactory

MARKETS = {"US", "CN", "JP", "DE", "IN", "GB", "FR", "IT", "CA", "BR", "KR", "AU", "ES", "MX", "NL"}


@pytest.mark.parametrize("tax_id_type", TAX_ID_FORMATS)
def test_each_format_accepts_its_example(tax_id_type):
    spec = TAX_ID_FORMATS[tax_id_type]
    value = tax_id_normalize(tax_id_type, spec.example)
    assert tax_id_normalize(tax_id_type, value) == value  # normalizing again changes nothing


@pytest.mark.parametrize(
    ("tax_id_type", "typed", "stored", "country"),
    [
        ("eu_vat", "de 136 695 976", "DE136695976", "DE"),
        ("eu_vat", "FR40303265045", "FR40303265045", "FR"),
        ("eu_vat", "IT00743110157", "IT00743110157", "IT"),
        ("eu_vat", "NL004495445B01", "NL004495445B01", "NL"),
        ("eu_vat", "ESA13585625", "ESA13585625", "ES"),
        ("eu_vat", "EL094259216", "EL094259216", "GR"),
        ("gb_vat", "980 7806 84", "GB980780684", "GB"),
        ("us_ein", "042103594", "04-2103594", "US"),
        ("au_abn", "51 824 753 556", "51824753556", "AU"),
        ("jp_trn", "T5835678256246", "T5835678256246", "JP"),
        ("ch_vat", "CHE107787577IVA", "CHE-107.787.577 IVA", "CH"),
    ],
)
def test_numbers_are_stored_as_stripe_writes_them(tax_id_type, typed, stored, country):
    assert tax_id_normalize(tax_id_type, typed) == stored
    assert tax_id_country(tax_id_type, stored) == country


@pytest.mark.parametrize(
    ("tax_id_type", "value", "says"),
    [
        ("eu_vat", "DE136695977", "check digits do not match. Expected the country code"),
        ("gb_vat", "GB12345", "Expected GB + 9 digits"),
        ("in_gst", "27AAPFU0939F1ZX", "Expected 15 characters"),
        ("au_abn", "51 824 753 557", "for example 51 824 753 556"),
        ("us_ein", "12345", "Expected NN-NNNNNNN"),
        ("jp_trn", "5835678256246", "Expected T + 13 digits"),
    ],
)
def test_a_wrong_number_is_refused_with_its_countrys_format(tax_id_type, value, says):
    with pytest.raises(ValidationError) as error:
        tax_id_normalize(tax_id_type, value)
    assert says in error.value.messages[0]
    assert repr(value) in error.value.messages[0]


def test_the_fifteen_largest_markets_are_covered():
    countries = {spec.country for spec in TAX_ID_FORMATS.values()}
    eu_members = {"DE", "FR", "IT", "ES", "NL"}
    assert MARKETS - eu_members <= countries
    assert "EU" in countries


@pytest.mark.django_db
def test_tax_id_model_checks_and_normalizes_on_clean():
    account = AccountFactory()
    tax_id = TaxId(account=account, type="gb_vat", value="980 7806 84")
    tax_id.full_clean()
    assert (tax_id.value, tax_id.country) == ("GB980780684", "GB")
    bad = TaxId(account=account, type="gb_vat", value="GB111")
    with pytest.raises(ValidationError) as error:
        bad.full_clean()
    assert "value" in error.value.message_dict
