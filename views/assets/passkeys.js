/*
 * Passkey ceremonies for Latch's hosted pages. The pages carry no inline script (CSP
 * script-src 'self'); they mark a form with data-passkey="sign-in|second-factor|enrol" and
 * data-options-url. This file asks that URL for the WebAuthn options (a POST with the form's
 * CSRF token), runs the ceremony with @simplewebauthn/browser — served by Latch itself from
 * /assets/simplewebauthn-browser.umd.min.js, a copy of that package's UMD bundle (v14.0.0) —
 * puts the result in the form's hidden "response" field and submits the form as usual.
 * Without WebAuthn (or without JavaScript) the passkey sections stay hidden.
 */
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  if (!lib || !lib.browserSupportsWebAuthn()) return;

  function messageFor(err) {
    if (err && (err.name === 'NotAllowedError' || err.code === 'ERROR_CEREMONY_ABORTED')) {
      return 'The passkey request was cancelled or timed out. Try again.';
    }
    if (err && err.name === 'InvalidStateError') return 'This passkey is already registered.';
    return (err && err.latchMessage) || 'The passkey could not be used. Try again, or use another way.';
  }

  document.querySelectorAll('[data-passkey-section]').forEach(function (section) {
    section.hidden = false;
  });

  document.querySelectorAll('form[data-passkey]').forEach(function (form) {
    var button = form.querySelector('button[type=submit]');
    var alert = form.querySelector('[data-passkey-error]');
    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      if (alert) alert.hidden = true;
      if (button) button.disabled = true;
      try {
        var csrf = form.querySelector('input[name=_csrf]').value;
        var res = await fetch(form.dataset.optionsUrl, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ _csrf: csrf }),
        });
        var options = await res.json();
        if (!res.ok) {
          var failure = new Error(options.message);
          failure.latchMessage = options.message;
          throw failure;
        }
        var result = form.dataset.passkey === 'enrol'
          ? await lib.startRegistration({ optionsJSON: options })
          : await lib.startAuthentication({ optionsJSON: options });
        form.querySelector('input[name=response]').value = JSON.stringify(result);
        HTMLFormElement.prototype.submit.call(form);
      } catch (err) {
        if (alert) {
          alert.textContent = messageFor(err);
          alert.hidden = false;
        }
        if (button) button.disabled = false;
      }
    });
  });
})();
