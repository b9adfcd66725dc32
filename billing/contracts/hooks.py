"""What happens to contracts that other billing packages follow without contracts importing
them: invoice review checks a customer's drafts again when one of its contracts changes."""

from backoffice.hooks import Hook
from billing.contracts.models import Contract

contract_changed: Hook[Contract] = Hook(
    "a contract was approved (an amendment too), terminated, renewed or expired"
)
