// Small progressive enhancements for the console; every page works without them.
document.addEventListener('click', async (e) => {
  const copy = e.target.closest('[data-copy]');
  if (copy) {
    e.preventDefault();
    try {
      await navigator.clipboard.writeText(copy.getAttribute('data-copy'));
      const was = copy.textContent;
      copy.textContent = 'Copied';
      setTimeout(() => { copy.textContent = was; }, 1200);
    } catch (_) { /* clipboard unavailable: the value is selectable */ }
  }
  const add = e.target.closest('[data-add-row]');
  if (add) {
    e.preventDefault();
    const body = document.getElementById(add.getAttribute('data-add-row'));
    const tpl = body && body.querySelector('tr:last-child');
    if (tpl) {
      const row = tpl.cloneNode(true);
      row.querySelectorAll('input').forEach((i) => { i.value = ''; });
      body.appendChild(row);
      row.querySelector('input').focus();
    }
  }
  const reveal = e.target.closest('[data-reveal]');
  if (reveal) {
    e.preventDefault();
    const target = document.getElementById(reveal.getAttribute('data-reveal'));
    if (target) { target.hidden = false; target.querySelector('input')?.focus(); }
  }
});
document.querySelectorAll('[data-js-hidden]').forEach((el) => { el.hidden = true; });
