'use strict';
// The new-contract page: the currency follows the account picked (its default currency) until
// the person chooses a currency themselves. Blank on saving is the account's currency too
// (ContractForm.clean), so this only shows it early.
(function ($) {
  $(function () {
    const path = window.location.pathname;
    if (!/\/add\/$/.test(path)) {
      return;
    }
    const account = $('#id_account');
    const currency = $('#id_currency');
    if (!account.length || !currency.length) {
      return;
    }
    let chosen = currency.val() !== '';
    currency.on('change', function (event) {
      if (event.originalEvent) {
        chosen = currency.val() !== '';
      }
    });
    account.on('change', function () {
      const pk = account.val();
      if (!pk || chosen) {
        return;
      }
      const url = path.replace(/add\/$/, 'account-currency/' + encodeURIComponent(pk) + '/');
      fetch(url, {credentials: 'same-origin', headers: {Accept: 'application/json'}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (data && !chosen && account.val() === pk) {
            currency.val(data.currency).trigger('change');
          }
        })
        .catch(function () { /* left blank: saving takes the account's currency */ });
    });
  });
})(django.jQuery);
