'use strict';
// django-celery-beat's periodic task page (templates/admin/djcelery/change_periodictask_form.html):
// under the crontab picked, when it runs in words. What django-celery-beat writes inline, in a
// file, as the Content-Security-Policy allows.
{
    const $ = django.jQuery;
    const script = document.getElementById('periodic-task-overrides');
    const readableCrontabs = JSON.parse(document.getElementById('readable-crontabs').textContent);
    const originalCrontabHelp = script.dataset.crontabHelp;

    const updateCrontabHelp = function(additional) {
        $('.field-crontab .help')
            .text(originalCrontabHelp)
            .append(document.createElement('br'), document.createTextNode('Translation: ' + additional));
    };

    $('.field-crontab_translation').hide();
    $('.field-crontab').change(function() {
        updateCrontabHelp(readableCrontabs[$('#id_crontab').val()]);
    });
}
