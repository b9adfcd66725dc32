"""Tax ID types (Stripe's names) and their formats, checked with python-stdnum's checksums.

A refused number names the country's own format and an example, so that whoever types it
can see what is expected.
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from django.core.exceptions import ValidationError
from stdnum import exceptions as stdnum_errors
from stdnum.au import abn
from stdnum.br import cnpj
from stdnum.ca import bn
from stdnum.ch import vat as ch_vat
from stdnum.cn import uscc
from stdnum.eu import vat as eu_vat
from stdnum.gb import vat as gb_vat
from stdnum.in_ import gstin
from stdnum.jp import cn as jp_cn
from stdnum.kr import brn
from stdnum.mx import rfc
from stdnum.no import mva
from stdnum.sg import uen
from stdnum.us import ein


@dataclass(frozen=True)
class TaxIdFormat:
    type: str  # Stripe's tax ID type
    label: str
    country: str  # ISO 3166; "EU" for EU VAT, whose prefix names the member state
    format: str  # the country's format, in words
    example: str
    module: ModuleType
    # Checks the number and returns it as Stripe writes it; stdnum's validate() by default.
    check: Callable[[str], str] | None = None


def _ca_gst_hst(value: str) -> str:
    number = bn.validate(value)
    if len(number) != 15 or number[9:11] != "RT":
        raise stdnum_errors.InvalidFormat()
    return number


def _jp_trn(value: str) -> str:
    number = value.replace("-", "").replace(" ", "").upper()
    if not number.startswith("T"):
        raise stdnum_errors.InvalidFormat()
    return "T" + jp_cn.validate(number[1:])


def _formatted(module: ModuleType) -> Callable[[str], str]:
    """Stripe writes these with their separators: CHE-107.787.577 IVA, 04-2103594, ..."""
    return lambda value: str(module.format(module.validate(value)))


TAX_ID_FORMATS: dict[str, TaxIdFormat] = {
    f.type: f
    for f in (
        TaxIdFormat(
            "eu_vat",
            "EU VAT number",
            "EU",
            "the country code, then the national VAT number (DE + 9 digits, "
            "FR + 2 characters + 9 digits, IT + 11 digits, NL + 9 digits + B + 2 "
            "digits, ES + 9 characters, IE + 7 digits + 1-2 letters, ...)",
            "DE136695976",
            eu_vat,
        ),
        TaxIdFormat(
            "gb_vat",
            "UK VAT number",
            "GB",
            "GB + 9 digits (or 12 digits)",
            "GB980780684",
            gb_vat,
            lambda value: "GB" + gb_vat.validate(value),
        ),
        TaxIdFormat(
            "ch_vat",
            "Swiss VAT number",
            "CH",
            "CHE-123.456.789 followed by MWST, TVA or IVA",
            "CHE-107.787.577 IVA",
            ch_vat,
            _formatted(ch_vat),
        ),
        TaxIdFormat(
            "no_vat", "Norwegian VAT number", "NO", "9 digits followed by MVA", "995525828MVA", mva
        ),
        TaxIdFormat(
            "us_ein",
            "US Employer Identification Number",
            "US",
            "NN-NNNNNNN",
            "04-2103594",
            ein,
            _formatted(ein),
        ),
        TaxIdFormat("ca_bn", "Canadian Business Number", "CA", "9 digits", "123456782", bn),
        TaxIdFormat(
            "ca_gst_hst",
            "Canadian GST/HST number",
            "CA",
            "9-digit business number + RT + 4 digits",
            "123456782RT0001",
            bn,
            _ca_gst_hst,
        ),
        TaxIdFormat(
            "au_abn", "Australian Business Number", "AU", "11 digits", "51 824 753 556", abn
        ),
        TaxIdFormat(
            "in_gst",
            "Indian GSTIN",
            "IN",
            "15 characters: 2-digit state code, 10-character PAN, entity number, Z, "
            "check character",
            "27AAPFU0939F1ZV",
            gstin,
        ),
        TaxIdFormat(
            "jp_cn", "Japanese Corporate Number", "JP", "13 digits", "5835678256246", jp_cn
        ),
        TaxIdFormat(
            "jp_trn",
            "Japanese Registration Number (qualified invoice)",
            "JP",
            "T + 13 digits",
            "T5835678256246",
            jp_cn,
            _jp_trn,
        ),
        TaxIdFormat(
            "br_cnpj",
            "Brazilian CNPJ",
            "BR",
            "NN.NNN.NNN/NNNN-NN (14 digits)",
            "16.727.230/0001-97",
            cnpj,
            _formatted(cnpj),
        ),
        TaxIdFormat(
            "mx_rfc",
            "Mexican RFC",
            "MX",
            "3 letters (companies), 6-digit date, 3 characters",
            "GODE561231GR8",
            rfc,
        ),
        TaxIdFormat(
            "kr_brn",
            "Korean Business Registration Number",
            "KR",
            "NNN-NN-NNNNN",
            "134-86-72683",
            brn,
            _formatted(brn),
        ),
        TaxIdFormat("sg_uen", "Singapore UEN", "SG", "9 or 10 characters", "00192200M", uen),
        TaxIdFormat(
            "cn_tin",
            "Chinese Unified Social Credit Code",
            "CN",
            "18 characters",
            "91110000600037341L",
            uscc,
        ),
    )
}

TAX_ID_TYPE_CHOICES = [(f.type, f.label) for f in TAX_ID_FORMATS.values()]

# stdnum writes Greece's VAT prefix as EL; every other member state's is its ISO code.
_EU_PREFIX_TO_COUNTRY = {"EL": "GR"}


def tax_id_normalize(tax_id_type: str, value: str) -> str:
    """The number checked and written as Stripe writes it; a ValidationError naming the
    country's format if it is not valid."""
    spec = TAX_ID_FORMATS.get(tax_id_type)
    if spec is None:
        raise ValidationError(f"{tax_id_type!r} is not a tax ID type we support.", code="type")
    try:
        if spec.check is not None:
            return spec.check(value)
        return str(spec.module.validate(value))
    except stdnum_errors.ValidationError as error:
        reason = {
            stdnum_errors.InvalidChecksum: "its check digits do not match",
            stdnum_errors.InvalidLength: "it has the wrong length",
            stdnum_errors.InvalidComponent: "a part of it is not valid",
        }.get(type(error), "it is not in the right format")
        raise ValidationError(
            f"{value!r} is not a valid {spec.label}: {reason}. Expected {spec.format}, "
            f"for example {spec.example}.",
            code="invalid",
        ) from error


def tax_id_country(tax_id_type: str, normalized_value: str) -> str:
    """The country a tax ID belongs to: the type's, or the EU VAT number's prefix."""
    spec = TAX_ID_FORMATS[tax_id_type]
    if spec.country == "EU":
        prefix = normalized_value[:2].upper()
        return _EU_PREFIX_TO_COUNTRY.get(prefix, prefix)
    return spec.country
