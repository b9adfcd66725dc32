'use strict';
// The export page's "Select all" box, one per resource, drawn here: django-import-export's
// template draws it with an inline onchange handler, which the Content-Security-Policy refuses
// (FileExportForm leaves that one out).
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('input[data-first-column]').forEach(function (first) {
    const row = first.closest('[resource-index]');
    if (!row) {
      return;
    }
    const resource = row.getAttribute('resource-index');
    const boxes = function () {
      return document.querySelectorAll(
        '[resource-index="' + resource + '"] input[type="checkbox"]:not(.select-toggle)'
      );
    };
    const wrapper = document.createElement('div');
    wrapper.setAttribute('resource-index', resource);
    wrapper.className = 'selectable-field-export-row select-all-row';
    wrapper.style.display = row.style.display;
    const toggle = document.createElement('input');
    toggle.type = 'checkbox';
    toggle.className = 'select-toggle';
    toggle.id = 'select-all-' + resource;
    toggle.checked = true;
    const label = document.createElement('label');
    label.htmlFor = toggle.id;
    label.textContent = 'Select all';
    label.style.fontWeight = 'bold';
    wrapper.append(toggle, ' ', label);
    row.parentNode.insertBefore(wrapper, row);
    toggle.addEventListener('change', function () {
      boxes().forEach(function (box) { box.checked = toggle.checked; });
    });
  });
});
